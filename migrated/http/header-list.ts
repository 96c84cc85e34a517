/**
 * An ordered header list with Node's setHeader semantics: names are matched case-insensitively,
 * replacing a header keeps its original position (and takes the new spelling), removing drops it.
 * This is how the legacy's middleware chain shaped the wire order, so we replay it the same way.
 */
export class HeaderList {
  private readonly names: string[] = [];
  private readonly lower: string[] = [];
  private readonly values: string[] = [];

  set(name: string, value: string): this {
    const i = this.indexOf(name);
    if (i === -1) {
      this.names.push(name);
      this.lower.push(name.toLowerCase());
      this.values.push(value);
    } else {
      this.names[i] = name;
      this.values[i] = value;
    }
    return this;
  }

  get(name: string): string | undefined {
    const i = this.indexOf(name);
    return i === -1 ? undefined : this.values[i];
  }

  has(name: string): boolean {
    return this.indexOf(name) !== -1;
  }

  remove(name: string): this {
    const i = this.indexOf(name);
    if (i !== -1) {
      this.names.splice(i, 1);
      this.lower.splice(i, 1);
      this.values.splice(i, 1);
    }
    return this;
  }

  /** Append every pair of another list (set semantics). */
  merge(pairs: ReadonlyArray<readonly [string, string]>): this {
    for (const [n, v] of pairs) this.set(n, v);
    return this;
  }

  /** `[name, value, name, value, ...]` for `res.writeHead(status, flat)`. */
  toFlat(): string[] {
    const out: string[] = new Array(this.names.length * 2);
    for (let i = 0; i < this.names.length; i++) {
      out[i * 2] = this.names[i]!;
      out[i * 2 + 1] = this.values[i]!;
    }
    return out;
  }

  pairs(): Array<[string, string]> {
    return this.names.map((n, i) => [n, this.values[i]!]);
  }

  private indexOf(name: string): number {
    return this.lower.indexOf(name.toLowerCase());
  }
}
