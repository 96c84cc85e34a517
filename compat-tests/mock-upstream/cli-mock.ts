export async function cmdMock(_argv: string[]): Promise<number> {
  console.error('not implemented yet');
  return 2;
}
