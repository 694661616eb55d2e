// A Kubernetes List response, split into its items as the bytes arrive. A
// page of 500 Secrets of 4 KiB is about 3 MB of JSON; parsed whole, the text,
// its Buffer chunks and every decoded object are alive at once, and the
// allocator keeps that peak long after. Here each item is parsed alone and
// handed on, so what is alive at a time is one item and the chunk it is in.
// The rest of the document (kind, apiVersion, metadata with resourceVersion
// and continue) is parsed at the end, with an empty items array.
//
// Only JSON's structure is scanned: strings are skipped with indexOf (a
// Secret's base64 values hold no quote or backslash), so the cost is close to
// that of finding the quotes.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

export class ListSplitter {
  private readonly onItem: (json: string) => void;
  private depth = 0;
  private inString = false;
  /** The previous chunk ended in a backslash inside a string: the next byte is escaped. */
  private escapePending = false;
  /** Inside the top-level "items" array. */
  private inItems = false;
  /** The last string seen at depth 1 and whether a colon followed it (it was a key). */
  private depth1String: string | undefined;
  private depth1Capture: string[] | undefined;
  private key = '';
  /** Parts of the current item from earlier chunks. */
  private itemParts: Buffer[] = [];
  private itemOpen = false;
  /** Everything outside the items, to be parsed at the end. */
  private rest: Buffer[] = [];
  private restBytes = 0;

  constructor(onItem: (json: string) => void) {
    this.onItem = onItem;
  }

  write(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    // Where the current run of bytes that belong to `rest` or to the current item began.
    let runStart = 0;
    let nextBackslash = -2;
    while (i < n) {
      if (this.inString) {
        if (this.escapePending) {
          this.escapePending = false;
          i++;
          continue;
        }
        const quote = chunk.indexOf(QUOTE, i);
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i);
        if (nextBackslash !== -1 && (quote === -1 || nextBackslash < quote)) {
          if (nextBackslash === n - 1) {
            this.escapePending = true;
            i = n;
          } else i = nextBackslash + 2;
          continue;
        }
        if (quote === -1) {
          if (this.depth1Capture) this.depth1Capture.push(chunk.toString('utf8', i, n));
          i = n;
          continue;
        }
        if (this.depth1Capture) {
          this.depth1Capture.push(chunk.toString('utf8', i, quote));
          this.depth1String = this.depth1Capture.join('');
          this.depth1Capture = undefined;
        }
        this.inString = false;
        i = quote + 1;
        continue;
      }
      const c = chunk[i]!;
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1) this.depth1Capture = [];
          break;
        case COLON:
          if (this.depth === 1 && this.depth1String !== undefined) this.key = this.depth1String;
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (this.inItems && this.depth === 2) {
            // An item starts: the bytes before it belong to `rest`.
            this.keepRest(chunk, runStart, i);
            runStart = i;
            this.itemOpen = true;
          }
          this.depth++;
          if (c === OPEN_ARRAY && this.depth === 2 && this.key === 'items') this.inItems = true;
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          this.depth--;
          if (this.inItems && this.depth === 2 && this.itemOpen) {
            this.emit(chunk, runStart, i + 1);
            runStart = i + 1;
          } else if (this.inItems && this.depth === 1) this.inItems = false;
          if (this.depth === 1) this.depth1String = undefined;
          break;
        case COMMA:
          if (this.inItems && this.depth === 2) {
            // A separator between items: not kept, so that `rest` holds "items":[].
            this.keepRest(chunk, runStart, i);
            runStart = i + 1;
          } else if (this.depth === 1) this.depth1String = undefined;
          break;
      }
      i++;
    }
    if (this.itemOpen) this.itemParts.push(chunk.subarray(runStart, n));
    else this.keepRest(chunk, runStart, n);
  }

  /** The list without its items; throws if the document was cut short or is not JSON. */
  end<T = unknown>(): T {
    if (this.depth !== 0 || this.inString || this.itemOpen) throw new Error('the list response ended before its JSON did');
    const text = Buffer.concat(this.rest, this.restBytes).toString('utf8');
    return JSON.parse(text) as T;
  }

  private keepRest(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    // Copied: a subarray would keep the whole chunk alive until the end of the list.
    const part = Buffer.from(chunk.subarray(from, to));
    this.rest.push(part);
    this.restBytes += part.length;
  }

  private emit(chunk: Buffer, from: number, to: number): void {
    let text: string;
    if (this.itemParts.length === 0) text = chunk.toString('utf8', from, to);
    else {
      this.itemParts.push(chunk.subarray(from, to));
      text = Buffer.concat(this.itemParts).toString('utf8');
      this.itemParts = [];
    }
    this.itemOpen = false;
    this.onItem(text);
  }
}
