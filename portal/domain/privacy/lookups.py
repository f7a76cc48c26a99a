"""Buyer data: keyed lookups (HMAC blind indexes and the receiver key)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from portal.domain.privacy.crypto import check_merchant_id
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import Phone, normalize_phone, parse_phone

# --------------------------------------------------------------------------- HMAC lookups


# json.dumps(parts, ensure_ascii=False, separators=(",", ":")) without a new encoder per call.
_HMAC_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _hmac_hex(key: bytes, parts: list[object]) -> str:
    message = _HMAC_JSON.encode(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def phone_index_for(keyring: KeyRing, merchant_id: int, phone: Phone) -> str:
    check_merchant_id(merchant_id)
    if not phone.number:
        return ""
    # The extension is left out on purpose: a search by a virtual number finds all its orders.
    return _hmac_hex(keyring.index_key, ["phone-index", 1, merchant_id, phone.number])


def blind_index(keyring: KeyRing, merchant_id: int, phone: str | None) -> str:
    """Merchant-scoped HMAC of the phone number (extension excluded), for search by phone."""
    return phone_index_for(keyring, merchant_id, normalize_phone(phone))


def name_index(keyring: KeyRing, merchant_id: int, name: str | None) -> str:
    """Merchant-scoped HMAC of the receiver's full name (normalised: NFKC, case, no spaces), for
    search by name without decrypting; "" for an empty name."""
    check_merchant_id(merchant_id)
    part = _key_part(normalize_text(name))
    if not part:
        return ""
    return _hmac_hex(keyring.index_key, ["name-index", 1, merchant_id, part])


def _key_part(cleaned: str) -> str:
    # Spaces carry no meaning in Chinese names and addresses, but buyers type them at random.
    return cleaned.casefold().replace(" ", "")


@dataclass(frozen=True, slots=True)
class NormalizedReceiver:
    """A receiver's fields, each through normalize_text (the phone also parsed) exactly once.

    receiver_key, protect_receiver and the import's phone check all start from these.
    """

    name: str
    phone_text: str
    phone: Phone
    province: str
    city: str
    district: str
    detail: str

    @classmethod
    def of(
        cls,
        name: str | None,
        phone: str | None,
        province: str | None,
        city: str | None,
        district: str | None,
        detail: str | None,
    ) -> NormalizedReceiver:
        phone_text = normalize_text(phone)
        return cls(
            name=normalize_text(name),
            phone_text=phone_text,
            phone=parse_phone(phone_text),
            province=normalize_text(province),
            city=normalize_text(city),
            district=normalize_text(district),
            detail=normalize_text(detail),
        )


def receiver_key_for(keyring: KeyRing, merchant_id: int, receiver: NormalizedReceiver) -> str:
    phone_part = receiver.phone.canonical or _key_part(receiver.phone_text)
    parts = [
        _key_part(receiver.name),
        phone_part,
        *map(_key_part, (receiver.province, receiver.city, receiver.district, receiver.detail)),
    ]
    if not any(parts):
        return ""
    return _hmac_hex(keyring.receiver_key_secret, ["receiver", 1, merchant_id, *parts])[:32]


def receiver_key(
    keyring: KeyRing,
    merchant_id: int,
    name: str | None,
    phone: str | None,
    province: str | None,
    city: str | None,
    district: str | None,
    detail: str | None,
) -> str:
    """Opaque merchant-scoped key, equal for orders to the same receiver; "" if all are empty."""
    check_merchant_id(merchant_id)
    receiver = NormalizedReceiver.of(name, phone, province, city, district, detail)
    return receiver_key_for(keyring, merchant_id, receiver)
