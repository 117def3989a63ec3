"""The server's VAPID identity for Web Push 推送 (RFC 8292): its key pair and the contact
push services see, and the signed `Authorization` header of each push.

Apart from the delivery (web/push.py, with pywebpush and its HTTP clients): settings read the
key when `redgrid serve` starts, in the process that only supervises the workers, and
`redgrid push keys` makes one; neither loads more than cryptography and py-vapid.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

JWT_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 hours


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key_pair() -> tuple[str, str]:
    """A new VAPID key pair: the private key (the raw 32-byte P-256 scalar) and the public key
    (the uncompressed point the app subscribes with), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return _b64url(private), public_key_of(key)


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    return _b64url(point)


class BadKey(ValueError):
    """A VAPID private key that cannot be read (the message never quotes the key)."""


def read_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """The key `redgrid push keys` printed (raw base64url), or a PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Vapid02.from_raw(text.encode()).private_key
    except Exception:  # any failure: the text is not a key, and is not repeated
        raise BadKey("REDGRID_VAPID_PRIVATE_KEY is not a P-256 private key (base64url or PEM)") \
            from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise BadKey("REDGRID_VAPID_PRIVATE_KEY is not a P-256 private key")
    return key


def audience(endpoint: str) -> str:
    """The JWT's `aud`: the push service's origin."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class PushSender:
    """The server's VAPID identity: its key pair and the contact (`sub`) push services see."""

    private_key: ec.EllipticCurvePrivateKey
    subject: str

    @property
    def public_key(self) -> str:
        return public_key_of(self.private_key)

    def authorization(self, endpoint: str) -> str:
        """The `Authorization: vapid t=<JWT>,k=<public key>` header for an endpoint; the JWT
        expires by the push service's clock, so by the wall clock, not a pass's `now`."""
        claims = {"aud": audience(endpoint), "exp": int(time.time()) + JWT_LIFETIME_S,
                  "sub": self.subject}
        return str(Vapid02(self.private_key).sign(claims)["Authorization"])
