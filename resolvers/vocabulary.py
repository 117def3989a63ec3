"""The ticket vocabulary, the Chinese labels and the deadline classes, as the API shows them.

The data layer owns them (db/vocabulary.py, db/labels.py, db/catalogue.py: the codes it stores
and seeds); they are named here so that the schema, which exposes them, asks this layer only.
"""

from __future__ import annotations

from db import labels as labels
from db.catalogue import DEADLINES as DEADLINES
from db.vocabulary import Channel as Channel
from db.vocabulary import Level as Level
from db.vocabulary import TicketStatus as TicketStatus
