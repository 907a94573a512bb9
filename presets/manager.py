"""``inversynth presets``: the interactive terminal preset manager (textual).

A searchable list filtered by tag, a detail pane with every parameter (value,
unit, a bar for its place in the range and, for matched presets, the model's
confidence), and keys for every bank operation. The factory presets are
listed after the bank's, read-only: copying one (c) puts it into the bank.
The list comes from in-memory indexes that follow the folders (a keystroke
in the search box parses nothing). Import takes a bank file, one preset file
or a folder of them, and asks whether a taken name is overwritten or both kept.

Live actions (load into the running synth, audition, match now) talk to
``inversynth serve`` over OSC (``--connect HOST:PORT``). The manager watches
the server (a ``/status`` every two seconds): when it stops answering the
status line says so at once and live actions report failure; when it answers
again the manager reconnects. Load and audition count as done only once the
server has answered after them; "match now" gives up after a while with a
message. Without a server the bank can still be edited.

Load sends the preset's parameters one by one (``/synth/param/<name>``), so
it works whatever bank the server reads; "match now" asks the server to
capture and match, and the new preset appears in the list when the server
saves it into the bank shown here (start both with the same ``--bank``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from inversynth.engine.live import audition_note
from inversynth.engine.synths import get_spec
from inversynth.errors import InversynthError
from inversynth.osc_client import OscClient
from inversynth.presets.preset import Preset
from inversynth.presets.store import FACTORY, Bank, BankIndex, read_presets

BAR_WIDTH = 20
OFFLINE = "offline: no synth server connected (live load, audition and match need 'inversynth serve')"
WATCH_SECONDS = 2.0  # a /status this often; an answer missing for two rounds means the server is gone
ANSWER_SECONDS = 1.5  # load and audition count as done once the server answered within this
MATCH_SECONDS = 2.0
MATCH_TIMEOUT = 30.0  # seconds after the capture without /match/done or /match/failed: given up
AUDITION_VELOCITY = 100
READ_ONLY = "is a factory preset (read-only): copy it into the bank with c first"


def range_bar(position: float, width: int = BAR_WIDTH) -> str:
    """A bar for a 0..1 position: '████████░░░░'."""
    filled = round(max(0.0, min(1.0, position)) * width)
    return "█" * filled + "░" * (width - filled)


def match_caption(provenance: dict[str, Any]) -> str:
    """How a matched preset got here: its verdict and distances, before and after refinement."""
    verdict = provenance.get("verdict")
    if verdict is None:  # matched before verdicts existed
        return f"matched, {provenance.get('distance_db', float('nan')):.2f} dB"
    before, after = provenance.get("network_distance_db"), provenance.get("distance_db")
    steps = f"{before:.2f} -> {after:.2f} dB refined" if provenance.get("refined") else f"{after:.2f} dB"
    reason = f": {provenance['reason']}" if provenance.get("reason") else ""
    return f"match {verdict}{reason} ({steps})"


def detail_table(preset: Preset) -> Table:
    """Every parameter of a preset with unit, a range bar and, when matched, the model's confidence
    (and which parameters the capture could not tell)."""
    spec = get_spec(preset.synth)
    provenance = dict(preset.provenance or {})
    confidence = dict(provenance.get("confidence", {}))
    unknown = set(provenance.get("undetermined", ()))
    caption = " · ".join(t for t in (preset.description, match_caption(provenance) if confidence else "") if t)
    table = Table(title=preset.name, caption=caption or None, expand=True)
    for column in ("param", "value", "unit", "range", *(["confidence"] if confidence else [])):
        table.add_column(column, justify="right" if column in ("value", "confidence") else "left")
    for param in spec.params:
        value = preset.params[param.name]
        row = [param.name, f"{value:.4g}", param.unit, range_bar(param.normalise(value))]
        if confidence:
            row.append("not heard" if param.name in unknown else f"{confidence.get(param.name, float('nan')):.2f}")
        table.add_row(*row)
    return table


class Prompt(ModalScreen[str | None]):
    """Ask for one line of text; Enter answers, Escape cancels."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question, self.value = question, value

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Input(value=self.value, id="answer")

    def on_mount(self) -> None:
        answer = self.query_one("#answer", Input)
        answer.focus()
        answer.select_all()  # typing replaces the old text

    @on(Input.Submitted, "#answer")
    def answer(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PresetManager(App[None]):
    """Browse and edit one bank of presets."""

    CSS_PATH = "manager.tcss"
    TITLE = "inversynth presets"
    BINDINGS: ClassVar = [
        Binding("slash", "focus_search", "search"),
        Binding("t", "tag", "tag"),
        Binding("r", "rename", "rename"),
        Binding("c", "duplicate", "duplicate"),
        Binding("x", "delete", "delete"),
        Binding("u", "undo", "undo"),
        Binding("i", "import_bank", "import"),
        Binding("e", "export_bank", "export"),
        Binding("l", "live('load')", "load"),
        Binding("a", "live('audition')", "audition"),
        Binding("m", "live('match')", "match now"),
        Binding("q", "quit", "quit"),
        Binding("escape", "leave_search", "list", show=False),
    ]

    query_text: reactive[str] = reactive("")
    """What the search box holds; the list shows presets whose name contains it."""
    tag: reactive[str | None] = reactive(None)
    """Only presets with this tag are listed ("tag:bell" in the search box sets it)."""
    status: reactive[str] = reactive(OFFLINE)
    """The status line: connection state, or what the last action did."""

    def __init__(self, bank: Bank, server: tuple[str, int] | None = None) -> None:
        super().__init__()
        self.bank = bank
        self.index, self.factory = BankIndex(bank), BankIndex(Bank(FACTORY))
        self.presets: list[Preset] = []
        self.factory_names: set[str] = set()  # of the listed presets, those from the factory
        self.server = server
        self.online = False
        self._client: OscClient | None = None
        self._asked = self._answered = 0.0  # monotonic times of the last /status sent and answer heard
        self._matching_since: float | None = None
        self.match_timeout = MATCH_TIMEOUT
        self._pending: tuple[str, float] | None = None  # a load or audition's message, and when it was sent
        self._listing = False  # the list exists (on_mount): watchers that fire earlier have nothing to refresh

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                yield Input(placeholder="search names, or tag:bell", id="search")
                yield DataTable(id="list", cursor_type="row", zebra_stripes=True)
            yield Static(id="detail")
        yield Static(OFFLINE, id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#list", DataTable)
        table.add_columns("name", "tags")
        self._listing = True
        self.sub_title = str(self.bank.folder)
        self.refresh_list()
        table.focus()
        if self.server is not None:
            self._connect(*self.server)

    def on_unmount(self) -> None:
        if self._client is not None:
            self._client.send("/unsubscribe", self._client.port)
            self._client.close()

    # --- the server ------------------------------------------------------------------------------

    def _connect(self, host: str, port: int) -> None:
        try:
            self._client = OscClient(host, port, listener=self._heard)
        except OSError as exc:
            self.status = f"{OFFLINE}; cannot reach {host}:{port} ({exc.strerror or exc})"
            return
        self.status = f"connecting to {host}:{port} ..."
        self._watch()
        self.set_interval(WATCH_SECONDS, self._watch)

    def _watch(self) -> None:
        """Ask for /status; an answer missing since the round before means the server has gone."""
        assert self._client is not None and self.server is not None
        now = time.monotonic()
        if self._asked and self._answered < self._asked:
            host, port = self.server
            if self.online:
                self.online = False
                self.status = f"{OFFLINE}; inversynth serve at {host}:{port} stopped answering"
            elif not self._answered and self.status.startswith("connecting"):
                self.status = f"{OFFLINE}; no answer from {host}:{port}"
        if self._matching_since is not None and now - self._matching_since > MATCH_SECONDS + self.match_timeout:
            self._matching_since = None
            self.status = f"match now gave up: no result from the server within {self.match_timeout:g} s of the capture"
        with suppress(OSError):
            self._client.send("/status")
        self._asked = now

    def _heard(self, address: str, args: tuple[Any, ...]) -> None:
        """A message from the server (on the OSC client's thread)."""
        if address == "/status":
            self.call_from_thread(self._answer, str(args[0]) if args else "?")
        elif address == "/match/done" and len(args) == 5:
            self.call_from_thread(self._matched, str(args[0]), float(args[1]), str(args[3]), str(args[4]))
        elif address in ("/match/failed", "/error") and args:
            self.call_from_thread(self._refused, address, tuple(str(a) for a in args))

    def _answer(self, backend: str) -> None:
        self._answered = time.monotonic()
        if self._pending is not None and self._answered >= self._pending[1]:
            self.status, self._pending = self._pending[0], None  # the server took the load or audition
        if self.online:
            return
        assert self._client is not None and self.server is not None
        self.online = True
        self._client.send("/subscribe", self._client.port)  # again after a restart: a new server forgot us
        self.status = f"connected to inversynth serve at {self.server[0]}:{self.server[1]} ({backend})"

    def _refused(self, address: str, args: tuple[str, ...]) -> None:
        if address == "/match/failed":
            self._matching_since = None
            self.status = f"match failed: {args[0]}"
        else:
            if args[0] in ("/preset/apply", "/synth/note"):  # our load or audition refused: not "loaded"
                self._pending = None
            self.status = f"the server refused {args[0]}: {args[-1]}"

    def _matched(self, name: str, distance: float, verdict: str, reason: str) -> None:
        self._matching_since = None
        if not name:
            self.status = f"match {verdict}: {reason}; nothing saved"
            return
        self.refresh_list(keep=name)
        where = "" if self.bank.path_for(name).exists() else f" (in the server's bank, not {self.bank.folder})"
        self.status = f"matched ({verdict}): '{name}', {distance:.2f} dB from the capture{where}"

    # --- state -----------------------------------------------------------------------------------

    def watch_query_text(self) -> None:
        self.refresh_list()

    def watch_tag(self) -> None:
        self.refresh_list()

    def watch_status(self, status: str) -> None:
        self.query_one("#status", Static).update(status)

    @property
    def selected(self) -> Preset | None:
        table = self.query_one("#list", DataTable)
        if not self.presets or table.cursor_row < 0 or table.cursor_row >= len(self.presets):
            return None
        return self.presets[table.cursor_row]

    def refresh_list(self, keep: str | None = None) -> None:
        """Reload the bank, apply search and tag; the cursor stays on ``keep`` (a name) or the current preset."""
        if not self._listing:
            return
        if keep is None and (current := self.selected) is not None:
            keep = current.name
        found, broken = self.index.scan()
        own = {p.name for p in found}
        factory = [p for p in self.factory.presets() if p.name not in own]
        self.factory_names = {p.name for p in factory}
        needle = self.query_text.casefold()
        self.presets = [
            p for p in found + factory if needle in p.name.casefold() and (self.tag is None or self.tag in p.tags)
        ]
        table = self.query_one("#list", DataTable)
        table.clear()
        for preset in self.presets:
            origin = " · factory" if preset.name in self.factory_names else ""
            table.add_row(preset.name, ", ".join(preset.tags) + origin, key=preset.name)
        names = [p.name for p in self.presets]
        if keep in names:
            table.move_cursor(row=names.index(keep))
        if broken:
            self.status = f"{len(broken)} file(s) in the bank are not valid presets and were skipped: " + "; ".join(
                f"{b.path.name}: {b.reason}" for b in broken[:2]
            )
        self.show_detail()

    def show_detail(self) -> None:
        preset = self.selected
        detail = self.query_one("#detail", Static)
        detail.update(detail_table(preset) if preset else Text("no preset selected", style="dim"))

    @on(DataTable.RowHighlighted, "#list")
    def row_changed(self) -> None:
        with suppress(NoMatches):  # a highlight can arrive while the app is closing
            self.show_detail()

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        words = event.value.split()
        tags = [w[4:].lower() for w in words if w.startswith("tag:") and len(w) > 4]
        self.tag = tags[-1] if tags else None
        self.query_text = " ".join(w for w in words if not w.startswith("tag:"))

    @on(Input.Submitted, "#search")
    def search_done(self) -> None:
        self.query_one("#list", DataTable).focus()

    # --- actions ---------------------------------------------------------------------------------

    def _attempt(self, what: str, work: Callable[[], str], keep: Callable[[], str | None] = lambda: None) -> None:
        """Run a bank operation; show its outcome, or its one-line error, in the status line."""
        try:
            self.status = work()
        except InversynthError as exc:
            self.status = f"{what} failed: {exc}"
            return
        self.refresh_list(keep=keep())

    def _ask(self, question: str, value: str, then: Callable[[str], None]) -> None:
        def answered(answer: str | None) -> None:
            if answer:
                then(answer)

        self.push_screen(Prompt(question, value), answered)

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        self.query_one("#list", DataTable).focus()

    def _editable(self) -> Preset | None:
        """The selected preset if the bank's own; a factory one is refused in the status line."""
        preset = self.selected
        if preset is not None and preset.name in self.factory_names:
            self.status = f"'{preset.name}' {READ_ONLY}"
            return None
        return preset

    def action_rename(self) -> None:
        if (preset := self._editable()) is None:
            return

        def rename(new: str) -> None:
            self._attempt(
                "rename", lambda: f"renamed to '{self.bank.rename(preset.name, new).name}'", keep=lambda: new.strip()
            )

        self._ask(f"rename '{preset.name}' to:", preset.name, rename)

    def action_tag(self) -> None:
        if (preset := self._editable()) is None:
            return

        def retag(text: str) -> None:
            def work() -> str:
                saved = self.bank.save(preset.changed(tags=tuple(text.replace(",", " ").split())))
                return f"tags of '{preset.name}': {', '.join(Preset.loads(saved.read_text()).tags)}"

            self._attempt("tag", work, keep=lambda: preset.name)

        self._ask(f"tags for '{preset.name}' (space separated):", " ".join(preset.tags), retag)

    def action_duplicate(self) -> None:
        if (preset := self.selected) is None:
            return
        made: list[str] = []

        def work() -> str:
            if preset.name in self.factory_names:
                made.append(self.bank.add(preset, clash="keep-both").name)
                return f"copied the factory preset into the bank as '{made[0]}'"
            made.append(self.bank.duplicate(preset.name).name)
            return f"duplicated as '{made[0]}'"

        self._attempt("duplicate", work, keep=lambda: made[0])

    def action_delete(self) -> None:
        if (preset := self._editable()) is None:
            return

        def work() -> str:
            self.bank.delete(preset.name)
            return f"deleted '{preset.name}' (u to undo)"

        self._attempt("delete", work)

    def action_undo(self) -> None:
        restored: list[str] = []

        def work() -> str:
            restored.append(self.bank.undo_delete().name)
            return f"restored '{restored[0]}'"

        self._attempt("undo", work, keep=lambda: restored[0])

    def action_import_bank(self) -> None:
        def import_with(path: Path, clash: str) -> None:
            self._attempt("import", lambda: f"imported {len(self.bank.import_from(path, clash))} preset(s)")

        def import_path(text: str) -> None:
            path = Path(text).expanduser()
            try:
                taken = [p.name for p in read_presets(path) if self.bank.path_for(p.name).exists()]
            except InversynthError as exc:
                self.status = f"import failed: {exc}"
                return
            if not taken:
                import_with(path, "refuse")
                return

            def decide(answer: str) -> None:
                clash = {"o": "overwrite", "overwrite": "overwrite", "k": "keep-both", "keep-both": "keep-both"}
                if answer.lower() not in clash:
                    self.status = f"import cancelled: {answer!r} is neither overwrite nor keep-both"
                    return
                import_with(path, clash[answer.lower()])

            names = ", ".join(taken[:3]) + (" …" if len(taken) > 3 else "")
            self._ask(f"{len(taken)} name(s) taken ({names}): overwrite or keep-both?", "keep-both", decide)

        self._ask("import presets from a bank file, a preset file or a folder of them:", "", import_path)

    def action_export_bank(self) -> None:
        def export_file(path: str) -> None:
            self._attempt(
                "export", lambda: f"exported {self.bank.export_to(Path(path).expanduser())} preset(s) to {path}"
            )

        self._ask("export this bank to file:", str(Path.cwd() / f"{self.bank.folder.name}-bank.json"), export_file)

    def action_live(self, what: str) -> None:
        client, preset = self._client, self.selected
        if client is None or not self.online:
            self.status = f"cannot {what}: {OFFLINE}"
            return
        if what == "match":
            client.send("/match/capture", MATCH_SECONDS)
            self._matching_since = time.monotonic()
            self.status = f"capturing {MATCH_SECONDS:g} s on the server to match: play the sound now"
            return
        if preset is None:
            return
        client.send("/preset/apply", preset.dumps())  # whole: one patch change, its synced rates, its synth checked
        done = f"loaded '{preset.name}' into the synth"
        if what == "audition":
            note = audition_note(preset.synth, preset.params)
            client.send("/synth/note", note, AUDITION_VELOCITY, 0.0)
            done = f"auditioning '{preset.name}' (note {note})"
        pending = self._pending = (done, time.monotonic())
        client.send("/status")  # its answer comes after the commands above were taken
        self.status = f"{what} '{preset.name}' sent; waiting for the server ..."
        self.set_timer(ANSWER_SECONDS, lambda: self._unconfirmed(pending, f"{what} of '{preset.name}'"))

    def _unconfirmed(self, pending: tuple[str, float], what: str) -> None:
        if self._pending is pending:  # no answer since it was sent
            self._pending = None
            self.status = f"{what} failed: the server did not answer within {ANSWER_SECONDS:g} s"


def run(bank_folder: Path, server: tuple[str, int] | None = None) -> None:
    PresetManager(Bank(bank_folder), server).run()
