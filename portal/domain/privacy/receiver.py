"""Buyer data: an order's receiver protected (ciphertexts, masks, indexes) and revealed."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.domain.privacy.crypto import (
    aad_prefix,
    check_merchant_id,
    check_order_no,
    decrypt,
    order_aads,
    seal,
)
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import (
    NormalizedReceiver,
    name_index,
    phone_index_for,
    receiver_key_for,
)
from portal.domain.privacy.masks import mask_detail, mask_name, mask_parsed_phone

# --------------------------------------------------------------------------- order receiver


@dataclass(frozen=True)
class ProtectedReceiver:
    """What an order stores about its receiver: ciphertexts, masks and the HMAC lookups."""

    name_enc: str
    phone_enc: str
    detail_enc: str
    name_mask: str
    phone_mask: str
    detail_mask: str
    phone_index: str
    receiver_key: str
    name_index: str = ""


def protect_receiver(
    keyring: KeyRing,
    merchant_id: int,
    order_no: str,
    name: str | None,
    phone: str | None,
    province: str | None,
    city: str | None,
    district: str | None,
    detail: str | None,
    key: str | None = None,
) -> ProtectedReceiver:
    """Encrypt, mask and index a receiver for one order. Province/city/district stay in clear.

    `key` is the receiver_key when the caller computed it already (the import does)."""
    receiver = NormalizedReceiver.of(name, phone, province, city, district, detail)
    return ReceiverProtector(keyring, merchant_id).protect(order_no, receiver, key)


class ReceiverProtector:
    """receiver_key and protect_receiver for many orders of one merchant (the import's loop).

    The cipher and the merchant's part of the associated data are set up once, not per field,
    and each receiver is normalised once (NormalizedReceiver) for both the key and the rest.
    """

    def __init__(self, keyring: KeyRing, merchant_id: int) -> None:
        check_merchant_id(merchant_id)
        self.keyring = keyring
        self.merchant_id = merchant_id
        self._version = keyring.current_version
        self._cipher = AESGCM(keyring.keys[self._version])
        self.aad_prefix = aad_prefix(merchant_id)

    def receiver_key(self, receiver: NormalizedReceiver) -> str:
        """receiver_key() of the receiver's original fields."""
        return receiver_key_for(self.keyring, self.merchant_id, receiver)

    def protect(
        self, order_no: str, receiver: NormalizedReceiver, key: str | None = None
    ) -> ProtectedReceiver:
        """protect_receiver() of the receiver's original fields."""
        check_order_no(order_no)
        name_aad, phone_aad, detail_aad = order_aads(self.aad_prefix, order_no)
        parsed = receiver.phone
        # A recognised number is stored canonically (what couriers expect on a waybill);
        # anything else is kept as typed, cleaned, so the merchant can still read and correct it.
        recognised = parsed.kind in ("mobile", "landline")
        phone_text = parsed.canonical if recognised else receiver.phone_text
        return ProtectedReceiver(
            name_enc=seal(self._cipher, self._version, receiver.name, name_aad),
            phone_enc=seal(self._cipher, self._version, phone_text, phone_aad),
            detail_enc=seal(self._cipher, self._version, receiver.detail, detail_aad),
            name_mask=mask_name(receiver.name),
            phone_mask=mask_parsed_phone(parsed),
            detail_mask=mask_detail(receiver.detail),
            phone_index=phone_index_for(self.keyring, self.merchant_id, parsed),
            receiver_key=key or self.receiver_key(receiver),
            name_index=name_index(self.keyring, self.merchant_id, receiver.name),
        )


def reveal_receiver(
    keyring: KeyRing,
    merchant_id: int,
    order_no: str,
    name_enc: str | None,
    phone_enc: str | None,
    detail_enc: str | None,
    *,
    detail: bool = True,
) -> tuple[str, str, str]:
    """Plain (name, phone, detail) of an order — only for the merchant's views and the waybill.
    Without `detail` the address line stays sealed ("" in its place): a desk row shows none."""
    check_merchant_id(merchant_id)
    check_order_no(order_no)
    # The three fields' associated data at once (a desk page reveals 50 receivers).
    name_aad, phone_aad, detail_aad = order_aads(aad_prefix(merchant_id), order_no)
    return (
        decrypt(keyring, name_enc, name_aad),
        decrypt(keyring, phone_enc, phone_aad),
        decrypt(keyring, detail_enc, detail_aad) if detail else "",
    )
