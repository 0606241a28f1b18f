"""The listener's C-STORE requests, decoded directly: a fixed command set of up to nine elements.

pynetdicom turns every received command set into a pydicom dataset (``decode``), works out the
message type from it, and then copies each element into a C-STORE primitive through pydicom's
element conversion (``message_to_primitive``): about 0.3 ms of the DUL thread per instance, on the
path the sender waits on. The command set of a C-STORE-RQ (PS3.7 9.3.1.1) is a short list of
known elements, Implicit VR Little Endian, so a listener association reads those with ``struct``
and fills the primitive through its own (validating) setters. Anything else goes to pynetdicom
as before, whole: a command set in several fragments, another command, an element outside the
list, a value of an unexpected length or not plain ASCII, or anything the setters refuse.

The data set's fragments are gathered as pynetdicom does (into the primitive's ``DataSet``), until
they pass the stream threshold (``STREAM_AFTER`` unless told): then, where the listener gives a
stream opener, the rest goes into a spool slot as it arrives (``slot_stream.py``) and the finished
request carries that stream (:func:`streamed`) with an empty ``DataSet``. A write that fails there goes on in memory. A command
fragment arriving before the data set is complete is a protocol error, answered as pynetdicom
answers an undecodable message (Evt19: the association is aborted); a stream left unfinished when
the connection closes is removed. EVT_DIMSE_RECV is not raised for a request read this way (nothing
in the listener listens for it).
tests/unit/dicom/test_store_request.py checks the primitive against pynetdicom's own decoding.
"""

from __future__ import annotations

import contextlib
import struct
import types
from collections.abc import Callable
from io import BytesIO
from typing import Any

from pynetdicom import evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from axiom.dicom.slot_stream import STREAM_AFTER, StreamedSlot

_C_STORE_RQ = 0x0001
_NO_DATA_SET = 0x0101
_HEADER = struct.Struct("<HHI")
_US = struct.Struct("<H")
# (0000,eeee) elements a C-STORE-RQ may carry, and the value length each must have (None: text).
_ELEMENTS: dict[int, int | None] = {
    0x0000: 4,  # Command Group Length
    0x0002: None,  # Affected SOP Class UID
    0x0100: 2,  # Command Field
    0x0110: 2,  # Message ID
    0x0700: 2,  # Priority
    0x0800: 2,  # Command Data Set Type
    0x1000: None,  # Affected SOP Instance UID
    0x1030: None,  # Move Originator Application Entity Title
    0x1031: 2,  # Move Originator Message ID
}
_REQUIRED = (0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000)
_PENDING = "_axiom_store_request"
_OPENER = "_axiom_stream_opener"
_STREAMED = "_axiom_streamed"

# (association, presentation context ID, request) -> a slot stream for its data set, or None.
StreamOpener = Callable[[Any, int, C_STORE], StreamedSlot | None]


def _text(value: bytes) -> str | None:
    """A UI/AE value as pydicom reads it (padding dropped), or None when not plain printable ASCII."""
    if not value.isascii():
        return None
    text = value.decode("ascii").rstrip("\0").strip(" ")
    return text if text.isprintable() else None


def decode_store_request(command: bytes | memoryview) -> C_STORE | None:
    """The C-STORE primitive for a whole C-STORE-RQ command set (without its DataSet), or None
    when it is not one this module reads (pynetdicom then decodes it)."""
    values: dict[int, bytes] = {}
    end = len(command)
    at = 0
    while at < end:
        if at + 8 > end:
            return None
        group, element, length = _HEADER.unpack_from(command, at)
        at += 8
        expected = _ELEMENTS.get(element, -1) if group == 0 else -1
        if expected == -1 or element in values or at + length > end:
            return None
        if expected is not None and length != expected:
            return None
        values[element] = bytes(command[at : at + length])
        at += length
    if any(element not in values for element in _REQUIRED):
        return None
    if _US.unpack(values[0x0100])[0] != _C_STORE_RQ or _US.unpack(values[0x0800])[0] == _NO_DATA_SET:
        return None
    sop_class, sop_instance = _text(values[0x0002]), _text(values[0x1000])
    if not sop_class or not sop_instance:
        return None
    primitive = C_STORE()
    try:
        primitive.MessageID = _US.unpack(values[0x0110])[0]
        primitive.Priority = _US.unpack(values[0x0700])[0]
        primitive.AffectedSOPClassUID = sop_class
        primitive.AffectedSOPInstanceUID = sop_instance
        if 0x1030 in values:
            originator = _text(values[0x1030])
            if originator is None:
                return None
            primitive.MoveOriginatorApplicationEntityTitle = originator
        if 0x1031 in values:
            primitive.MoveOriginatorMessageID = _US.unpack(values[0x1031])[0]
    except (TypeError, ValueError):
        return None
    return primitive


class _Pending:
    """A C-STORE-RQ whose command set was read here, waiting for the rest of its data set."""

    __slots__ = ("context_id", "data", "opened", "primitive", "stream")

    def __init__(self, context_id: int, primitive: C_STORE) -> None:
        self.context_id = context_id
        self.primitive = primitive
        self.data = BytesIO()
        self.stream: StreamedSlot | None = None
        self.opened = False  # a stream was asked for (once per request)

    def add(self, fragment: memoryview, opener: StreamOpener | None, after: int, assoc: Any) -> None:
        if self.stream is not None:
            try:
                self.stream.append(fragment)
                return
            except OSError:
                self._back_to_memory()
        self.data.write(fragment)
        if opener is not None and not self.opened and self.data.tell() >= after:
            self.opened = True
            try:
                self.stream = opener(assoc, self.context_id, self.primitive)
                if self.stream is not None:
                    self.stream.append(self.data.getbuffer())
                    self.data = BytesIO()
            except OSError:
                self._back_to_memory()

    def _back_to_memory(self) -> None:
        """The slot could not take a write: go on with what it holds, in memory (raises when even
        that cannot be read back: the caller aborts)."""
        stream, self.stream = self.stream, None
        if stream is None:
            return
        try:
            data = BytesIO()
            data.write(stream.read_back())
            data.write(self.data.getbuffer())
            self.data = data
        finally:
            stream.close()

    def discard(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def streamed(request: C_STORE) -> StreamedSlot | None:
    """The slot stream holding a request's data set, when it was streamed (its ``DataSet`` is empty)."""
    stream: StreamedSlot | None = getattr(request, _STREAMED, None)
    return stream


def _receive_primitive(self: Any, primitive: Any) -> None:
    pending: _Pending | None = getattr(self, _PENDING, None)
    pdvs = primitive.presentation_data_value_list
    start = 0
    if pending is None:
        if self.message is not None or not pdvs or pdvs[0][1][0] & 3 != 3:
            type(self).receive_primitive(self, primitive)
            return
        context_id, first = pdvs[0]
        request = decode_store_request(memoryview(first)[1:])
        if request is None:
            type(self).receive_primitive(self, primitive)
            return
        pending = _Pending(context_id, request)
        setattr(self, _PENDING, pending)
        start = 1
    for _, data in pdvs[start:]:
        control = data[0]
        if control & 1:
            # A command fragment inside a data set: not a message anyone can decode.
            _abort(self, pending)
            return
        try:
            opener, after = getattr(self, _OPENER, (None, 0))
            pending.add(memoryview(data)[1:], opener, after, self.assoc)
        except OSError:
            _abort(self, pending)  # the streamed part is lost: the sender must not wait for an answer
            return
        if control & 2:
            setattr(self, _PENDING, None)
            request = pending.primitive
            request.DataSet = pending.data
            if pending.stream is not None:
                setattr(request, _STREAMED, pending.stream)
            request._context_id = pending.context_id
            self.msg_queue.put((pending.context_id, request))
            return


def _abort(dimse: Any, pending: _Pending) -> None:
    setattr(dimse, _PENDING, None)
    pending.discard()
    dimse.dul.event_queue.put("Evt19")


def store_request_handlers(
    opener: StreamOpener | None = None, stream_after: int = STREAM_AFTER
) -> list[tuple[Any, Any]]:
    """EVT_CONN_OPEN: an accepted association reads its C-STORE requests through ``_receive_primitive``;
    with ``opener``, data sets past ``stream_after`` bytes go into spool slots as they arrive (0: none).
    EVT_CONN_CLOSE: a data set still arriving when the connection ends is dropped (never acknowledged)."""
    if stream_after <= 0:
        opener = None

    def on_open(event: Event) -> None:
        dimse = event.assoc.dimse
        dimse.receive_primitive = types.MethodType(_receive_primitive, dimse)  # type: ignore[method-assign]
        setattr(dimse, _OPENER, (opener, stream_after))

    def on_close(event: Event) -> None:
        dimse = event.assoc.dimse
        pending: _Pending | None = getattr(dimse, _PENDING, None)
        if pending is not None:
            setattr(dimse, _PENDING, None)
            with contextlib.suppress(OSError):
                pending.discard()

    return [(evt.EVT_CONN_OPEN, on_open), (evt.EVT_CONN_CLOSE, on_close)]
