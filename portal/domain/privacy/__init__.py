"""Buyer-data protection by concern: normalising text (normalize) and phones (phones), masks,
the key ring (keys), encryption at rest (crypto, AEAD), keyed lookups (lookups: blind index,
receiver key) and the order receiver put together from them (receiver)."""
