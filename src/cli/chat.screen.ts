import { type Interface, clearLine, createInterface, cursorTo } from 'node:readline';

/**
 * The chat's terminal: a prompt on a TTY, with incoming lines printed above what is being typed;
 * on a pipe, plain lines (messages on stdout, notes on stderr), so chat can be scripted.
 */
export class ChatScreen {
  readonly input: Interface;
  private readonly tty: boolean;
  private closed = false;

  constructor() {
    this.tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
    this.input = createInterface({
      input: process.stdin,
      output: this.tty ? process.stdout : undefined,
      terminal: this.tty,
      prompt: '> ',
    });
  }

  /** A message line. */
  print(line: string): void {
    this.write(process.stdout, line);
  }

  /** A state line (`* reconnecting …`). */
  note(line: string): void {
    this.write(this.tty ? process.stdout : process.stderr, `* ${line}`);
  }

  prompt(): void {
    if (this.tty && !this.closed) this.input.prompt(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.input.close();
    if (this.tty) this.erasePrompt();
  }

  private write(stream: NodeJS.WriteStream, line: string): void {
    if (!this.tty || this.closed) {
      stream.write(`${line}\n`);
      return;
    }
    // Erase the prompt and the half-typed line, print, then redraw them below.
    this.erasePrompt();
    stream.write(`${line}\n`);
    this.input.prompt(true);
  }

  private erasePrompt(): void {
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
  }
}
