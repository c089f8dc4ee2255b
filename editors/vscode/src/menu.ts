/** The quick pick behind the status bar item: the extension's commands in one place. */
import * as vscode from "vscode";
import { isEnabled } from "./settings";

interface Entry extends vscode.QuickPickItem {
  command: string;
}

export async function showMenu(cove: { refresh(): Promise<void> }, language: string | undefined): Promise<void> {
  await cove.refresh();
  const all = isEnabled("*");
  const entries: Entry[] = [
    { label: all ? "$(circle-slash) Disable completions" : "$(check) Enable completions", command: "cove.toggle" },
  ];
  if (language) {
    const on = isEnabled(language);
    entries.push({
      label: on ? `$(circle-slash) Disable for ${language}` : `$(check) Enable for ${language}`,
      command: "cove.toggleLanguage",
    });
  }
  entries.push(
    { label: "$(refresh) Reload model", command: "cove.reload" },
    { label: "$(graph) Show statistics", description: "cove stats", command: "cove.stats" },
    { label: "$(output) Open log", command: "cove.log" },
    { label: "$(info) Show server status", description: "cove.status, in the log", command: "cove.serverStatus" },
    { label: "$(debug-restart) Restart server", command: "cove.restart" },
  );
  const choice = await vscode.window.showQuickPick(entries, { title: "Cove" });
  if (choice) {
    await vscode.commands.executeCommand(choice.command);
  }
}
