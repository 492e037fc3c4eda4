/** Where a command reads a secret from: one line, never an argument. */
export interface Stdin {
  /** The first line, without its line ending; null when there is none. On a terminal, `prompt` is shown and typing is not echoed. */
  readSecret(prompt: string): Promise<string | null>;
}

/** The process's standard input: a line piped in, or typed at a terminal without echo. */
export const processStdin: Stdin = {
  async readSecret(prompt) {
    if (!process.stdin.isTTY) {
      const text = await Bun.stdin.text();
      if (text === "") return null;
      return text.split(/\r?\n/, 1)[0]!;
    }
    return readHidden(prompt);
  },
};

/** Reads a line from the terminal in raw mode, so the characters typed are not shown. */
function readHidden(prompt: string): Promise<string | null> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding("utf8");
  return new Promise((resolve) => {
    let line = "";
    const finish = (value: string | null) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish(line);
        if (ch === "\u0003" || ch === "\u0004") return finish(null); // Ctrl-C, Ctrl-D
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else line += ch;
      }
    };
    input.on("data", onData);
  });
}
