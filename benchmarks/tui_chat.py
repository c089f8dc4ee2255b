"""Terminal assistant: does the chat keep up with the model, and how fast is the history?

Three measurements, medians over `--repeat` runs:
1. streaming: the same completion-mode request through the engine alone and through the
   app (headless Textual, key presses), so the difference is what the UI costs: the
   time from Enter to the first piece on screen and the tokens/s the app sustains;
2. history writes: one committed message (WAL, fsync per commit), the step that makes a
   sent message survive a killed app;
3. search over 10,000 messages with the FTS5 index and with the LIKE fallback.

    .venv/bin/python benchmarks/tui_chat.py --model MODEL.gguf [--tokens 256] [--repeat 5]

Any GGUF works; the tiny random test model (`tests/conftest.py`, cached under
.pytest_cache/d/cove-tiny/) is the fastest model and so the hardest for the UI to follow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.chat import COMPLETION, ChatConfig, start_reply
from assistant.config import EngineConfig
from assistant.engine import Engine
from assistant.store import MIGRATIONS, Store
from assistant.tui.app import CoveApp
from assistant.tui.widgets.messages import MessageView
from assistant.tui.widgets.prompt_input import PromptInput

PROMPT = "import os\nimport sys\n\n\ndef main(argv):\n    for name in os.listdir(argv[1]):\n"
WORDS = ("def", "class", "return", "import", "yield", "lambda", "parser", "token", "cache", "engine",
         "widget", "stream", "window", "buffer", "socket", "thread", "future", "record", "result", "pelican")


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


def engine_alone(engine: Engine, config: ChatConfig, repeat: int) -> list[tuple[int, float]]:
    """(generated tokens, wall ms) of the request made directly, without the app."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        generation = start_reply(engine, COMPLETION, [Turn("user", PROMPT)], config=config)
        generation.result()
        runs.append((generation.stats.generated_tokens, 1000 * (time.perf_counter() - started)))
    return runs


async def through_app(engine: Engine, config: ChatConfig, db: Path, repeat: int) -> list[tuple[int, float, float, float]]:
    """(generated tokens, ms from Enter to the first piece on screen, ms from Enter to the
    reply rendered and stored, the generation's own tokens/s) of the request sent by key press."""
    store = Store(db)
    app = CoveApp(store, engine, load_engine=lambda path: engine, config=config, cwd=db.parent)
    marks: dict[str, float] = {}
    write, finish = MessageView.write, MessageView.finish

    async def timed_write(view: MessageView, fragment: str) -> None:
        marks.setdefault("first", time.perf_counter())
        await write(view, fragment)

    async def timed_finish(view: MessageView, *args, **kwargs) -> None:
        await finish(view, *args, **kwargs)
        marks["done"] = time.perf_counter()

    MessageView.write, MessageView.finish = timed_write, timed_finish
    runs = []
    try:
        async with app.run_test(size=(120, 34)) as pilot:
            screen = app.screen
            for _ in range(repeat):
                await pilot.press("ctrl+n")
                screen.query_one(PromptInput).load_text(PROMPT)
                marks.clear()
                started = time.perf_counter()
                await pilot.press("enter")
                while "done" not in marks:
                    await asyncio.sleep(0.001)
                stats = store.messages(store.conversations()[0].id)[-1].stats
                runs.append((stats["generated_tokens"], 1000 * (marks["first"] - started),
                             1000 * (marks["done"] - started), 1000 * stats["generated_tokens"] / stats["generation_ms"]))
    finally:
        MessageView.write, MessageView.finish = write, finish
    return runs


def history_writes(folder: Path, repeat: int = 200) -> float:
    store = Store(folder / "writes.sqlite3")
    conversation = store.create_conversation("bench")
    times = []
    for index in range(repeat):
        started = time.perf_counter()
        store.add_message(conversation.id, "user", f"message {index} " * 20)
        times.append(1000 * (time.perf_counter() - started))
    store.close()
    return statistics.median(times)


def search_times(folder: Path, messages: int = 10_000, queries: int = 30) -> dict[str, float]:
    """Median search ms with the FTS5 index (all migrations) and with LIKE (index left out)."""
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) + str(rng.randrange(500)) for _ in range(60)) for _ in range(messages)]
    results = {}
    for name, migrations in (("fts5", MIGRATIONS), ("like", MIGRATIONS[:1])):
        store = Store(folder / f"search-{name}.sqlite3", migrations=migrations)
        conversation = store.create_conversation("bench")
        store._db.execute("BEGIN")
        store._db.executemany(
            "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, 'user', ?, 0)",
            [(conversation.id, text) for text in texts],
        )
        store._db.execute("COMMIT")
        times = []
        for _ in range(queries):
            query = f"{rng.choice(WORDS)}{rng.randrange(500)} {rng.choice(WORDS)}{rng.randrange(500)}"
            started = time.perf_counter()
            store.search(query)
            times.append(1000 * (time.perf_counter() - started))
        results[name] = statistics.median(times)
        store.close()
    return results


def app_figures(runs: list[tuple[int, float, float, float]]) -> dict[str, float]:
    return {
        "tokens": statistics.median(run[0] for run in runs),
        "first_piece_ms": round(statistics.median(run[1] for run in runs), 1),
        "ms": round(statistics.median(run[2] for run in runs), 1),
        "tokens_per_s": round(statistics.median(run[0] / run[2] * 1000 for run in runs), 1),
        "generation_tokens_per_s": round(statistics.median(run[3] for run in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=256, help="reply length (max_tokens)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = ChatConfig(max_tokens=args.tokens)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        def load() -> Engine:
            return Engine.load(EngineConfig(model=args.model, n_ctx=1024, n_threads=args.threads))

        engine = load()
        alone = engine_alone(engine, config, args.repeat)
        engine.close()
        # The app owns (and closes) its engine: each run gets a fresh one.
        in_app = asyncio.run(through_app(load(), config, folder / "app.sqlite3", args.repeat))
        report = {
            "model": args.model.name,
            "engine_alone": {
                "tokens": statistics.median(t for t, _ in alone),
                "ms": round(statistics.median(ms for _, ms in alone), 1),
                "tokens_per_s": round(statistics.median(t / ms * 1000 for t, ms in alone), 1),
            },
            "through_app": app_figures(in_app),
            "history_write_ms": round(history_writes(folder), 2),
            "search_10k_messages_ms": {k: round(v, 2) for k, v in search_times(folder).items()},
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
