/**
 * Splits a Kubernetes list response (`{"kind":…,"metadata":{…},"items":[{…},{…}]}`) as its bytes
 * arrive: each item is parsed on its own as soon as its closing brace is seen and handed to
 * `onItem`, so a page of large Secrets is never held as one text and one parsed array; what the
 * list says besides its items (metadata: resourceVersion, continue) is parsed at the end, with
 * `items` left empty. Structural characters are ASCII, and UTF-8 never uses bytes below 0x80 inside
 * a multi-byte character, so scanning bytes is exact.
 */
export class ListItemSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Bytes of the string being read at depth 1, and the last such string: the key before a value. */
  private keyBytes: number[] | undefined;
  private key = '';
  private inItems = false;
  private itemOpen = false;
  /** Everything outside the items array, and the parts of the item being read. */
  private readonly rest: Buffer[] = [];
  private item: Buffer[] = [];
  items = 0;

  constructor(private readonly onItem: (raw: unknown) => void) {}

  write(chunk: Buffer): void {
    let from = 0; // the first byte of this chunk not yet kept (in rest or item) or dropped
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] ?? 0;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.keyBytes !== undefined) this.key = Buffer.from(this.keyBytes).toString('utf8');
          this.keyBytes = undefined;
          continue;
        }
        this.keyBytes?.push(c);
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
        if (this.depth === 1) this.keyBytes = [];
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (this.inItems && this.depth === 2) {
          from = i; // an item starts; separators before it are dropped
          this.itemOpen = true;
        }
        this.depth++;
        if (this.depth === 2 && c === OPEN_BRACKET && this.key === 'items') {
          this.rest.push(chunk.subarray(from, i + 1));
          from = i + 1;
          this.inItems = true;
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.inItems && this.depth === 2 && this.itemOpen) {
          this.item.push(chunk.subarray(from, i + 1));
          this.emitItem();
          from = i + 1;
        } else if (this.inItems && this.depth === 1) {
          this.inItems = false;
          from = i; // the closing ']' belongs to the rest again
        }
      }
    }
    if (this.itemOpen) this.item.push(chunk.subarray(from));
    else if (!this.inItems && from < chunk.length) this.rest.push(chunk.subarray(from));
  }

  /** The list without its items; throws when the text was not one complete JSON object. */
  end(): Record<string, unknown> {
    if (this.depth !== 0 || this.inString || this.itemOpen) throw new Error('list response ended early');
    const parsed: unknown = JSON.parse(Buffer.concat(this.rest).toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('list response is not an object');
    }
    return parsed as Record<string, unknown>;
  }

  private emitItem(): void {
    const text = Buffer.concat(this.item).toString('utf8');
    this.item = [];
    this.itemOpen = false;
    this.items++;
    this.onItem(JSON.parse(text));
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
