"""What happened, as messages and signal payloads: named for the event, carrying plain data."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from dockwire.answer import Answer, Question
from dockwire.live import ModelUpdate
from dockwire.model import HostModel


class ModelArrived(Message):
    """The source produced a new model (posted from the source's worker thread)."""

    def __init__(self, update: ModelUpdate, host: str = "") -> None:
        self.update = update
        #: The host it is of, when the source follows several ("" for one).
        self.host = host
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        """A newer model of the same host waiting behind this one supersedes it, and inherits what changed
        in this one."""
        if not isinstance(message, ModelArrived) or message.host != self.host:
            return False
        message.update = self.update.then(message.update)
        return True


class SourceFailed(Message):
    """The source's iteration raised; it is retried after a pause."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        super().__init__()


@dataclass(frozen=True, slots=True)
class ModelShown:
    """Signal payload: the model the panes should show now, and what changed to get there."""

    model: HostModel
    update: ModelUpdate
    generation: int
    #: "up", "lost" or "" (not live).
    daemon: str
    #: True when Docker is unreachable and the containers shown are the last ones known.
    last_known: bool = False
    #: The host whose update this is, when there are several ("" for one host); `model` is the selected one's.
    host: str = ""


@dataclass(frozen=True, slots=True)
class ProbeStarted:
    request: Question
    what: str


@dataclass(frozen=True, slots=True)
class ProbeFinished:
    outcome: Answer
