// A one-line progress bar for `sync --once` in a terminal. It redraws in place with \r and is
// cleared before a log line is written, so logs and the bar do not mangle each other.

export interface Progress {
  start(total: number): void;
  tick(label: string): void;
  addTotal(n: number): void;
  clear(): void;
  done(): void;
}

export const noProgress: Progress = { start() {}, tick() {}, addTotal() {}, clear() {}, done() {} };

export class TtyProgress implements Progress {
  private total = 0;
  private count = 0;
  private shown = false;
  constructor(private readonly stream: NodeJS.WriteStream = process.stdout, private readonly width = 30) {}

  start(total: number): void {
    this.total = total;
    this.count = 0;
    this.draw("");
  }
  addTotal(n: number): void {
    this.total += n;
  }
  tick(label: string): void {
    this.count++;
    this.draw(label);
  }
  clear(): void {
    if (this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }
  done(): void {
    this.clear();
  }
  private draw(label: string): void {
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 0;
    const filled = Math.round(frac * this.width);
    const cols = this.stream.columns ?? 80;
    let line = `[${"#".repeat(filled)}${"-".repeat(this.width - filled)}] ${this.count}/${this.total} ${label}`;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    this.stream.write("\r\x1b[K" + line);
    this.shown = true;
  }
}
