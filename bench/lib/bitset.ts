/** A growable set of small non-negative integers (message numbers of one sender). */
export class BitSet {
  private words = new Uint32Array(8);
  size = 0;

  /** True when `n` was not in the set. */
  add(n: number): boolean {
    const w = n >>> 5;
    if (w >= this.words.length) {
      const grown = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    const bit = 1 << (n & 31);
    if (this.words[w]! & bit) return false;
    this.words[w]! |= bit;
    this.size++;
    return true;
  }

  has(n: number): boolean {
    const w = n >>> 5;
    return w < this.words.length && (this.words[w]! & (1 << (n & 31))) !== 0;
  }

  /** How many members of this set are missing from `other`. */
  missingFrom(other: BitSet | undefined): number {
    let missing = 0;
    for (let w = 0; w < this.words.length; w++) {
      let bits = this.words[w]! & ~(other && w < other.words.length ? other.words[w]! : 0);
      while (bits) {
        bits &= bits - 1;
        missing++;
      }
    }
    return missing;
  }
}
