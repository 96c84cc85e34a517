export async function cmdRecord(_argv: string[], _suitesRoot: string): Promise<number> {
  console.error('not implemented yet');
  return 2;
}
