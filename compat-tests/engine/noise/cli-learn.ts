export async function cmdLearnNoise(_argv: string[], _suitesRoot: string): Promise<number> {
  console.error('not implemented yet');
  return 2;
}
