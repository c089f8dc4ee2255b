/**
 * Cove for VS Code: starts `cove lsp`, shows its completions as ghost text, and gives the
 * status bar item and the commands around it. The completions themselves, the acceptance
 * counting (the item's `cove.accepted` command, run by the client on Tab) and the partial
 * accepts (read from the document's next change) are the server's work.
 */
import { execFile } from "child_process";
import * as vscode from "vscode";
import { DidChangeConfigurationNotification, ExecuteCommandRequest, LanguageClient } from "vscode-languageclient/node";
import { createClient } from "./client";
import { showMenu } from "./menu";
import { findServer } from "./server";
import { SECTION, isEnabled, serverKeys, serverSettings, setEnabled } from "./settings";
import { ServerStatus, StatusItem } from "./status";

/** Server commands (lsp/commands.py). */
const STATUS = "cove.status";
const RELOAD_MODEL = "cove.reloadModel";
/** How often `cove.status` is asked while the model loads. */
const LOADING_POLL_MS = 500;
/** The status item's figures are refreshed this long after the last completion. */
const REFRESH_AFTER_TYPING_MS = 1000;
/** A changed `cove.path` restarts the server once it has stayed the same this long: the
 * Settings editor saves a path being typed at every pause. */
const PATH_SETTLE_MS = 1000;

class Cove implements vscode.Disposable {
  readonly log = vscode.window.createOutputChannel("Cove", { log: true });
  readonly statusItem = new StatusItem("cove.menu");
  private client: LanguageClient | undefined;
  private readonly keys: string[];
  private inFlight = 0;
  private refreshing = false;
  private poll: NodeJS.Timeout | undefined;
  private pathChanged: NodeJS.Timeout | undefined;
  private afterTyping: NodeJS.Timeout | undefined;

  constructor(context: vscode.ExtensionContext) {
    this.keys = serverKeys(context.extension.packageJSON);
  }

  /** Start the server; when it cannot start, say once what was tried and how to fix it. */
  async start(): Promise<void> {
    const setting = vscode.workspace.getConfiguration(SECTION).get<string>("path", "");
    const found = findServer(setting, vscode.workspace.workspaceFolders ?? []);
    if (!found.command) {
      return this.failed(`no cove executable found (tried ${found.tried.join(", ")})`);
    }
    this.statusItem.set("starting", found.command);
    this.log.info(`starting ${found.command} lsp`);
    const client = createClient(found.command, this.keys, this.log, {
      busy: (working) => this.busy(working),
      closed: () => this.closed(),
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      return this.failed(`${found.command} lsp did not start: ${error instanceof Error ? error.message : error}`);
    }
    await this.refresh();
  }

  async stop(): Promise<void> {
    clearTimeout(this.poll);
    const client = this.client;
    this.client = undefined;
    if (client?.isRunning()) {
      await client.stop();
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The one notification of a failed start; not awaited, so nothing waits for the user. */
  private failed(problem: string): void {
    this.statusItem.set("error", problem);
    this.log.error(problem);
    const fix = "Set cove.path to the cove executable (e.g. ~/project/.venv/bin/cove), or install Cove there.";
    void vscode.window.showErrorMessage(`Cove: ${problem}. ${fix}`, "Open setting", "Open log").then((choice) =>
      choice === "Open setting" ? vscode.commands.executeCommand("workbench.action.openSettings", "cove.path")
        : choice === "Open log" ? this.log.show() : undefined);
  }

  private closed(): void {
    this.client = undefined;
    this.statusItem.set("stopped", "the language server stopped");
    void vscode.window.showErrorMessage("Cove: the language server stopped (the log says why).", "Restart", "Open log")
      .then((choice) => (choice === "Restart" ? this.restart() : choice === "Open log" ? this.log.show() : undefined));
  }

  private busy(working: boolean): void {
    this.inFlight += working ? 1 : -1;
    clearTimeout(this.afterTyping);
    if (working) {
      this.statusItem.set("generating");
    } else if (this.inFlight === 0) {
      this.statusItem.set("ready");
      // `cove.status` answers with the recent requests (up to 1,024 records): asked once
      // typing pauses, never between keystrokes, where it would delay the next completion.
      this.afterTyping = setTimeout(() => void this.refresh(), REFRESH_AFTER_TYPING_MS);
    }
  }

  /** Ask the server's `cove.status` for the item; poll while the model loads. */
  async refresh(): Promise<void> {
    if (this.refreshing) {
      return;
    }
    this.refreshing = true;
    try {
      const status = await this.command<ServerStatus>(STATUS);
      if (status) {
        this.statusItem.update(status);
      }
    } catch (error) {
      this.log.warn(`${STATUS} failed: ${error}`);
    } finally {
      this.refreshing = false;
    }
    clearTimeout(this.poll);
    if (this.statusItem.current === "loading") {
      this.poll = setTimeout(() => void this.refresh(), LOADING_POLL_MS);
    }
  }

  /** Run a server command; undefined when the server is not running. */
  async command<T>(command: string): Promise<T | undefined> {
    if (!this.client?.isRunning()) {
      return undefined;
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [] }) as Promise<T>;
  }

  /** `cove.status` as one line of JSON in the log: the settings in force, the documents as
   * the server sees them, and what each recent request cost. */
  async serverStatus(): Promise<void> {
    const status = await this.command<object>(STATUS);
    this.log.info(`${STATUS} ${JSON.stringify(status ?? null)}`);
    this.log.show(true);
  }

  async reloadModel(): Promise<void> {
    if (!this.client?.isRunning()) {
      return this.restart();
    }
    this.statusItem.set("loading");
    const answer = await this.command<{ loaded: boolean; error: string | null }>(RELOAD_MODEL);
    if (answer && !answer.loaded) {
      void vscode.window.showErrorMessage(`Cove: the model did not load: ${answer.error}`);
    }
    await this.refresh();
  }

  /** `cove stats` from the same executable, in an output channel of its own. */
  async stats(channel: vscode.OutputChannel): Promise<void> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const found = findServer(config.get<string>("path", ""), vscode.workspace.workspaceFolders ?? []);
    if (!found.command) {
      return this.failed(`no cove executable found (tried ${found.tried.join(", ")})`);
    }
    const db = config.get<string>("acceptanceFile", "");
    const args = ["stats", ...(db ? ["--db", db] : [])];
    execFile(found.command, args, (error, stdout, stderr) => {
      channel.clear();
      channel.append(error ? `${stdout}${stderr}` : stdout);
      channel.show(true);
    });
  }

  /** Settings changed: the path restarts the server, the server's own keys are sent to it. */
  async configurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (event.affectsConfiguration(`${SECTION}.path`)) {
      clearTimeout(this.pathChanged);
      this.pathChanged = setTimeout(() => void this.restart(), PATH_SETTLE_MS);
      return;
    }
    if (this.keys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`)) && this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: serverSettings(this.keys) });
      await this.refresh();
    }
    this.showLanguage();
  }

  /** The status item says when completions are off for the active editor's language. */
  showLanguage(): void {
    const language = vscode.window.activeTextEditor?.document.languageId;
    this.statusItem.disabled(isEnabled(language) ? undefined : isEnabled("*") ? language : "*");
  }

  dispose(): void {
    clearTimeout(this.pathChanged);
    clearTimeout(this.afterTyping);
    void this.stop();
    this.statusItem.dispose();
    this.log.dispose();
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const cove = new Cove(context);
  const statsChannel = vscode.window.createOutputChannel("Cove statistics");
  const language = () => vscode.window.activeTextEditor?.document.languageId;
  const toggleLanguage = async () => {
    const id = language();
    if (id) {
      await setEnabled(id, !isEnabled(id));
    }
  };
  context.subscriptions.push(
    cove,
    statsChannel,
    vscode.commands.registerCommand("cove.menu", () => showMenu(cove, language())),
    vscode.commands.registerCommand("cove.toggle", () => setEnabled("*", !isEnabled("*"))),
    vscode.commands.registerCommand("cove.toggleLanguage", toggleLanguage),
    vscode.commands.registerCommand("cove.reload", () => cove.reloadModel()),
    vscode.commands.registerCommand("cove.stats", () => cove.stats(statsChannel)),
    vscode.commands.registerCommand("cove.log", () => cove.log.show()),
    vscode.commands.registerCommand("cove.serverStatus", () => cove.serverStatus()),
    vscode.commands.registerCommand("cove.restart", () => cove.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => cove.configurationChanged(event)),
    vscode.window.onDidChangeActiveTextEditor(() => cove.showLanguage()),
  );
  cove.showLanguage();
  void cove.start(); // activation does not wait for the model or a notification
}

export function deactivate(): void {}
