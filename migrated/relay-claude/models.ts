/** `isOpusModelRequest`: a string model containing "opus" (case-insensitive). */
export function isOpusModel(model: unknown): boolean {
  return typeof model === 'string' && model.toLowerCase().includes('opus');
}
