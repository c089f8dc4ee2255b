/**
 * Finding the `cove` executable: `cove.path`, else the workspace's virtualenv, else `PATH`.
 *
 * VS Code started from a desktop menu does not see a shell's activated virtualenv, which is
 * where most people install Cove: users of other assistants report "server not found" first.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";

export interface Found {
  /** The executable to start, or undefined when none of the candidates exists. */
  command?: string;
  /** Each candidate looked at, for the message shown when none works. */
  tried: string[];
}

const EXE = process.platform === "win32" ? "cove.exe" : "cove";
const VENV_BIN = process.platform === "win32" ? "Scripts" : "bin";

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function expand(setting: string, folders: readonly vscode.WorkspaceFolder[]): string {
  const folder = folders[0]?.uri.fsPath ?? "";
  return setting.replace(/^~(?=$|[\\/])/, os.homedir()).replace(/\$\{workspaceFolder\}/g, folder);
}

/** The server's executable; a set `cove.path` is the only candidate (no silent fallback). */
export function findServer(setting: string, folders: readonly vscode.WorkspaceFolder[]): Found {
  if (setting.trim()) {
    const file = expand(setting.trim(), folders);
    return { command: isExecutable(file) ? file : undefined, tried: [`cove.path ${file}`] };
  }
  const tried: string[] = [];
  for (const folder of folders) {
    const file = path.join(folder.uri.fsPath, ".venv", VENV_BIN, EXE);
    tried.push(file);
    if (isExecutable(file)) {
      return { command: file, tried };
    }
  }
  tried.push(`${EXE} on PATH`);
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, EXE);
    if (isExecutable(file)) {
      return { command: file, tried };
    }
  }
  return { tried };
}
