/**
 * The status bar item: what the server is doing, its model and the last completion's latency.
 *
 * The figures come from the server's `cove.status` command, so the item shows what the
 * server measured, not a guess of the extension's.
 */
import * as vscode from "vscode";

export type State = "starting" | "loading" | "ready" | "generating" | "error" | "stopped";

/** The parts of `cove.status`'s answer (lsp/commands.py) that the item shows. */
export interface ServerStatus {
  backend: string | null;
  loadError: string | null;
  records: { latency_ms: number; served_from: string }[];
}

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: State = "starting";
  private detail = "";
  private model = "";
  private latencyMs: number | undefined;
  private disabledFor: string | undefined;

  constructor(command: string) {
    this.item = vscode.window.createStatusBarItem("cove.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Cove";
    this.item.command = command;
    this.render();
    this.item.show();
  }

  set(state: State, detail = ""): void {
    this.state = state;
    this.detail = detail;
    this.render();
  }

  /** Take the model, load state and last latency from the server's `cove.status`. */
  update(status: ServerStatus): void {
    if (status.backend) {
      this.model = status.backend.split(" (")[0];
    }
    const last = [...status.records].reverse().find((r) => r.served_from === "model" || r.served_from === "cache");
    this.latencyMs = last?.latency_ms;
    if (status.loadError) {
      this.set("error", status.loadError);
    } else if (this.state !== "generating") {
      this.set(status.backend ? "ready" : "loading", status.backend ?? "");
    }
  }

  /** `languageId` when completions are off for the active editor's language, else undefined. */
  disabled(languageId: string | undefined): void {
    this.disabledFor = languageId;
    this.render();
  }

  get current(): State {
    return this.state;
  }

  private render(): void {
    const latency = this.latencyMs === undefined ? "" : ` ${Math.round(this.latencyMs)} ms`;
    const model = this.model ? ` ${this.model}` : "";
    let text: string;
    if (this.disabledFor !== undefined && this.state !== "error" && this.state !== "stopped") {
      text = this.disabledFor === "*" ? "$(circle-slash) Cove: off" : `$(circle-slash) Cove: off for ${this.disabledFor}`;
    } else {
      text = {
        starting: "$(loading~spin) Cove: starting",
        loading: "$(loading~spin) Cove: loading model",
        ready: `$(sparkle) Cove${model}${latency}`,
        generating: `$(loading~spin) Cove${model}${latency}`,
        error: "$(error) Cove: error",
        stopped: "$(debug-stop) Cove: stopped",
      }[this.state];
    }
    this.item.text = text;
    this.item.tooltip = [`Cove: ${this.state}`, this.detail, latency && `last completion:${latency}`, "Click for the menu"]
      .filter(Boolean)
      .join("\n");
    this.item.backgroundColor = this.state === "error" || this.state === "stopped"
      ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
