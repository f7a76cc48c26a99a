"""Tests for portal.domain.privacy: normalisation, masks, key ring, AEAD, blind index, receiver
key."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.privacy.crypto import decrypt, encrypt, order_aad, reencrypt, token_version
from portal.domain.privacy.keys import (
    DecryptionError,
    InsecureKeyFileError,
    InvalidKeyFileError,
    KeyRing,
    MissingKeysError,
    load_or_create,
)
from portal.domain.privacy.lookups import blind_index, receiver_key
from portal.domain.privacy.masks import mask_detail, mask_free_text, mask_name, mask_phone
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import Phone, is_valid_phone, normalize_phone
from portal.domain.privacy.receiver import protect_receiver, reveal_receiver

# Property tests must not leave a .hypothesis directory in the project.
no_db = settings(database=None, max_examples=100)

AAD = order_aad(7, "261118-676264143056892", "name")
SHARED_RING = KeyRing.generate()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


def _file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secrets_of(ring: KeyRing) -> list[bytes]:
    return [*ring.keys.values(), ring.index_key, ring.receiver_key_secret]


def _leaks(text: str, ring: KeyRing) -> bool:
    """True if text contains any key of the ring in raw, hex or base64 form."""
    for secret in _secrets_of(ring):
        forms = [
            repr(secret),
            secret.hex(),
            base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode(),
        ]
        if any(form in text for form in forms):
            return True
    return False


# --------------------------------------------------------------------------- normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        ("  张三  ", "张三"),
        ("张\x00三", "张三"),
        ("a\x01b\x07c\x1bd\x7fe\x9bf", "abcdef"),
        ("a\tb\nc\r\nd\x85e", "a b c d e"),
        ("a   \t\n  b", "a b"),
        ("ＡＢＣ１２３", "ABC123"),
        ("北京\u3000朝阳", "北京 朝阳"),
        ("a\u00a0b", "a b"),
        ("\ufeff张三", "张三"),
        ("张\u200b三", "张三"),
        ("张\u200c三", "张三"),
        ("张\u200d三", "张三"),
        ("张\u2060三", "张三"),
        ("张\u00ad三", "张三"),
        ("张\u180e三", "张三"),
        ("张\u202e三", "张三"),
        # The invisible character goes first, so the accent still composes with its letter.
        ("e\u200b\u0301", "\u00e9"),
    ],
)
def test_normalize_text(raw: str | None, expected: str) -> None:
    assert normalize_text(raw) == expected


@no_db
@given(st.text())
def test_normalize_text_is_idempotent_and_clean(raw: str) -> None:
    text = normalize_text(raw)
    assert normalize_text(text) == text
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)
    assert "  " not in text
    assert text == text.strip()


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "number", "extension", "kind"),
    [
        ("13812345678", "13812345678", "", "mobile"),
        ("１３８１２３４５６７８", "13812345678", "", "mobile"),
        (" 138 1234 5678 ", "13812345678", "", "mobile"),
        ("138-1234-5678", "13812345678", "", "mobile"),
        ("138.1234.5678", "13812345678", "", "mobile"),
        ("(138)12345678", "13812345678", "", "mobile"),
        ("+86 138 1234 5678", "13812345678", "", "mobile"),
        ("+8613812345678", "13812345678", "", "mobile"),
        ("+86-138-1234-5678", "13812345678", "", "mobile"),
        ("＋８６　１３８１２３４５６７８", "13812345678", "", "mobile"),
        ("008613812345678", "13812345678", "", "mobile"),
        ("0086 138 1234 5678", "13812345678", "", "mobile"),
        ("8613812345678", "13812345678", "", "mobile"),
        ("86 13812345678", "13812345678", "", "mobile"),
        ("013812345678", "13812345678", "", "mobile"),
        ("138\u200b1234\x005678", "13812345678", "", "mobile"),
        # Virtual numbers (虚拟号) with an extension, in every notation buyers and exports use.
        ("13242203407-1041", "13242203407", "1041", "mobile"),
        ("13242203407转1041", "13242203407", "1041", "mobile"),
        ("13242203407 转 1041", "13242203407", "1041", "mobile"),
        ("13242203407轉1041", "13242203407", "1041", "mobile"),
        ("13242203407,1041", "13242203407", "1041", "mobile"),
        ("13242203407，1041", "13242203407", "1041", "mobile"),
        ("13242203407#1041", "13242203407", "1041", "mobile"),
        ("13242203407＃1041", "13242203407", "1041", "mobile"),
        ("13242203407－1041", "13242203407", "1041", "mobile"),
        ("13242203407—1041", "13242203407", "1041", "mobile"),
        ("13242203407–1041", "13242203407", "1041", "mobile"),
        ("１３２４２２０３４０７－１０４１", "13242203407", "1041", "mobile"),
        ("+86 132-4220-3407-1041", "13242203407", "1041", "mobile"),
        ("13242203407 ext. 1041", "13242203407", "1041", "mobile"),
        # Landlines: area code + 7/8-digit subscriber, optional extension.
        ("021-12345678", "02112345678", "", "landline"),
        ("0755 8888 6666", "075588886666", "", "landline"),
        ("(010)12345678", "01012345678", "", "landline"),
        ("（010）12345678", "01012345678", "", "landline"),
        ("021-12345678-801", "02112345678", "801", "landline"),
        ("0571-8765432", "05718765432", "", "landline"),
        ("021 1234567-801", "0211234567", "801", "landline"),
        ("+86 21 1234 5678", "02112345678", "", "landline"),
        ("+86 (0)21 12345678", "02112345678", "", "landline"),
        # Neither mobile nor landline.
        ("400-820-8820", "4008208820", "", "other"),
        ("95588", "95588", "", "other"),
        ("12345678901", "12345678901", "", "other"),
        ("+1 415 555 1234", "14155551234", "", "other"),
        ("02112345678801", "02112345678801", "", "other"),
        # Subscriber numbers are 7 or 8 digits; shorter is not a landline.
        ("021-123456", "021123456", "", "other"),
        ("0755-123456", "0755123456", "", "other"),
        # Arabic-Indic digits would match \d; they are not digits a courier can dial.
        ("١٣٨١٢٣٤٥٦٧٨", "", "", "other"),
        ("abc", "", "", "invalid"),  # letters: a typo, never a number
        ("", "", "", "empty"),
        (None, "", "", "empty"),
        ("\x00\u200b ", "", "", "empty"),
    ],
)
def test_normalize_phone(raw: str | None, number: str, extension: str, kind: str) -> None:
    assert normalize_phone(raw) == Phone(number, extension, kind)


def test_non_text_input_is_refused() -> None:
    with pytest.raises(TypeError):
        normalize_phone(13812345678)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        normalize_text(1.3812345678e10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Phone("13812345678", "", "cell")


def test_phone_canonical_adds_extension_only_when_present() -> None:
    assert normalize_phone("13242203407转1041").canonical == "13242203407-1041"
    assert normalize_phone("021-12345678-801").canonical == "02112345678-801"
    assert normalize_phone("+86 138 1234 5678").canonical == "13812345678"
    assert normalize_phone("").canonical == ""


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "13242203407-1041", "021-12345678-801", "0755 8888 6666", "400-820-8820"],
)
def test_normalize_phone_is_stable_on_its_canonical_form(raw: str) -> None:
    phone = normalize_phone(raw)
    assert normalize_phone(phone.canonical) == phone


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("13812345678", True),
        ("+86 138 1234 5678", True),
        ("13242203407转1041", True),
        ("021-12345678", True),
        ("021-12345678-801", True),
        ("0755 8888 6666", True),
        ("95588", True),
        ("400-820-8820", True),
        ("1234", False),
        ("12345678901234567890123", False),
        ("١٣٨١٢٣٤٥٦٧٨", False),
        ("abc", False),
        ("", False),
        # An extension that cannot be dialled makes the whole number unusable.
        ("13812345678转abc", False),
        ("13812345678-123456789", False),
        ("13812345678-1234#56", False),
    ],
)
def test_is_valid_phone(raw: str, valid: bool) -> None:
    assert is_valid_phone(normalize_phone(raw)) is valid


def test_is_valid_phone_checks_the_digits_not_just_the_kind() -> None:
    assert not is_valid_phone(Phone("12345678901", "", "mobile"))
    assert not is_valid_phone(Phone("021123", "", "landline"))
    assert not is_valid_phone(Phone("١٣٨١٢٣٤٥٦٧٨", "", "other"))
    assert not is_valid_phone(Phone("138١٢٣٤٥٦٧٨", "", "mobile"))
    assert not is_valid_phone(Phone("021١٢٣٤٥٦٧٨", "", "landline"))
    assert not is_valid_phone(Phone("13812345678", "١٢٣", "mobile"))
    assert not is_valid_phone(Phone("", "", "empty"))


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张**"),
        ("欧阳娜娜", "欧**"),
        ("李", "李**"),
        ("阿卜杜热西提·买买提", "阿**"),
        ("·阿里", "阿**"),
        ("【张三】", "张**"),
        ("  \u200b李四 ", "李**"),
        ("Alice Smith", "A**"),
        ("ｊｏｈｎ", "j**"),
        ("José", "J**"),
        ("😀小明", "😀**"),
        ("👍🏽王五", "👍🏽**"),
        ("❤️赵六", "❤️**"),
        ("👨\u200d👩\u200d👧小明", "👨\u200d👩\u200d👧**"),
        ("👩🏽\u200d💻程序员", "👩🏽\u200d💻**"),
        ("🇨🇳王", "🇨🇳**"),
        ("1️⃣号", "1️⃣**"),
        ("", ""),
        (None, ""),
        (" \x00\u200d ", ""),
    ],
)
def test_mask_name(raw: str | None, expected: str) -> None:
    assert mask_name(raw) == expected


CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


@no_db
@given(first=CJK, rest=st.text(alphabet=CJK, max_size=30))
def test_mask_name_hides_everything_after_the_first_character(first: str, rest: str) -> None:
    assert mask_name(first + rest) == first + "**"


@no_db
@given(st.text())
def test_mask_name_is_empty_only_for_empty_names(raw: str) -> None:
    masked = mask_name(raw)
    assert (masked == "") == (normalize_text(raw) == "")
    assert masked == "" or masked.endswith("**")


def test_mask_name_is_fixed_length_for_any_chinese_name() -> None:
    assert {mask_name(n) for n in ("张三", "张三丰", "张三丰四", "张" + "三" * 30)} == {"张**"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("13242203407-1041", "132****3407"),
        ("13242203407转1041", "132****3407"),
        ("021-12345678", "****5678"),
        ("021-12345678-801", "****5678"),
        ("0755 8888 6666", "****6666"),
        ("400-820-8820", "****8820"),
        # Too short to hide anything by showing the tail: hide all of it.
        ("95588", "****"),
        ("abc", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(raw: str | None, expected: str) -> None:
    assert mask_phone(raw) == expected


def test_mask_phone_never_shows_the_extension() -> None:
    for raw in ("13242203407-1041", "13242203407转1041", "021-12345678-1041"):
        assert "1041" not in mask_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("石牌街道团结路887号18栋3004室", "****"),
        ("x", "****"),
        ("", ""),
        (None, ""),
        (" \x00 ", ""),
    ],
)
def test_mask_detail(raw: str | None, expected: str) -> None:
    assert mask_detail(raw) == expected


@pytest.mark.parametrize(
    ("note", "names", "expected"),
    [
        ("请联系欧阳娜娜 13598761234", (), "请联系欧** 135****1234"),
        ("王五签收 +86 139 1234 5678", ("王五",), "王**签收 139****5678"),
        ("收件人：张小红女士，座机021-66778899", (), "收件人:张**女士,座机****8899"),
        ("１３５９８７６１２３４", (), "135****1234"),
        ("发顺丰，不要放驿站", (), "发顺丰,不要放驿站"),
        ("", ("张三",), ""),
        (None, (), ""),
    ],
)
def test_mask_free_text(note: str | None, names: tuple[str, ...], expected: str) -> None:
    assert mask_free_text(note, names) == expected


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.text(alphabet="请联系发货顺丰 ，。-:：abc", max_size=10),
    st.text(alphabet="请联系发货顺丰 ，。-:：abc", max_size=10),
)
def test_mask_free_text_never_shows_a_mobile(phone: str, before: str, after: str) -> None:
    masked = mask_free_text(before + phone + after)
    assert phone not in masked.replace(" ", "").replace("-", "")
    assert mask_phone(phone) in masked


# --------------------------------------------------------------------------- AEAD


@pytest.mark.parametrize(
    "plaintext", ["张三", "13242203407-1041", "阿卜杜热西提·买买提 👩🏽\u200d💻"]
)
def test_encrypt_round_trip(ring: KeyRing, plaintext: str) -> None:
    token = encrypt(ring, plaintext, AAD)
    assert token.isascii()
    assert token.startswith("v1:")
    assert plaintext not in token
    assert decrypt(ring, token, AAD) == plaintext


@no_db
@given(st.text(min_size=1))
def test_encrypt_round_trip_any_text(plaintext: str) -> None:
    # Hypothesis cannot use function-scoped fixtures, hence a module-level ring.
    assert decrypt(SHARED_RING, encrypt(SHARED_RING, plaintext, AAD), AAD) == plaintext


def test_encrypt_uses_a_fresh_nonce_each_time(ring: KeyRing) -> None:
    assert encrypt(ring, "张三", AAD) != encrypt(ring, "张三", AAD)


def test_empty_is_stored_as_empty(ring: KeyRing) -> None:
    assert encrypt(ring, "", AAD) == ""
    assert decrypt(ring, "", AAD) == ""
    assert reencrypt(ring, "", AAD) == ""
    assert token_version("") is None


def test_token_version(ring: KeyRing) -> None:
    assert token_version(encrypt(ring, "张三", AAD)) == 1
    assert token_version(encrypt(ring.with_new_version(), "张三", AAD)) == 2
    assert token_version("not a token") is None
    assert token_version("v0:AAAA") is None


def _flip_char(token: str, index: int) -> str:
    prefix, payload = token.split(":", 1)
    chars = list(payload)
    chars[index] = "B" if chars[index] != "B" else "C"
    return f"{prefix}:{''.join(chars)}"


@pytest.mark.parametrize("index", [0, 5, 16, 20, -5])
def test_tampered_token_is_refused(ring: KeyRing, index: int) -> None:
    token = encrypt(ring, "张三 13812345678", AAD)
    with pytest.raises(DecryptionError) as excinfo:
        decrypt(ring, _flip_char(token, index), AAD)
    assert "张三" not in str(excinfo.value)
    assert not _leaks(str(excinfo.value), ring)


@pytest.mark.parametrize(
    "other_aad",
    [
        order_aad(7, "261118-676264143056892", "phone"),
        order_aad(7, "261118-190888440937964", "name"),
        order_aad(8, "261118-676264143056892", "name"),
        b"",
    ],
)
def test_wrong_associated_data_is_refused(ring: KeyRing, other_aad: bytes) -> None:
    token = encrypt(ring, "张三", AAD)
    with pytest.raises(DecryptionError):
        decrypt(ring, token, other_aad)


def test_unknown_version_is_refused(ring: KeyRing) -> None:
    newer = ring.with_new_version()
    token = encrypt(newer, "张三", AAD)
    with pytest.raises(DecryptionError, match="v2"):
        decrypt(ring, token, AAD)


def test_token_under_another_ring_is_refused(ring: KeyRing) -> None:
    token = encrypt(KeyRing.generate(), "张三", AAD)
    with pytest.raises(DecryptionError):
        decrypt(ring, token, AAD)


@pytest.mark.parametrize("token", ["张三", "v1", "v1:", "v1:!!!!", "v1:AAAA", "1:AAAA", "v01:AAAA"])
def test_malformed_token_is_refused(ring: KeyRing, token: str) -> None:
    with pytest.raises(DecryptionError):
        decrypt(ring, token, AAD)


def test_order_aad_is_distinct_per_field_and_validates() -> None:
    aads = {order_aad(1, "A-1", f) for f in ("name", "phone", "detail")}
    assert len(aads) == 3
    # Concatenation ambiguities ("1" + "2-3" vs "12" + "-3") must not collide.
    assert order_aad(1, "2-3", "name") != order_aad(12, "-3", "name")
    with pytest.raises(ValueError):
        order_aad(1, "A-1", "province")
    with pytest.raises(ValueError):
        order_aad(1, "", "name")
    with pytest.raises(TypeError):
        order_aad("1", "A-1", "name")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        order_aad(True, "A-1", "name")


# --------------------------------------------------------------------------- rotation


def test_rotation_keeps_old_tokens_readable(ring: KeyRing) -> None:
    old_token = encrypt(ring, "张三", AAD)
    rotated = ring.with_new_version()

    assert rotated.current_version == 2
    assert set(rotated.keys) == {1, 2}
    assert rotated.keys[1] == ring.keys[1]
    assert rotated.keys[2] != ring.keys[1]
    # The HMAC keys do not rotate: stored indexes and receiver keys must stay valid.
    assert rotated.index_key == ring.index_key
    assert rotated.receiver_key_secret == ring.receiver_key_secret
    # The original ring is untouched.
    assert set(ring.keys) == {1}
    assert ring.current_version == 1

    assert decrypt(rotated, old_token, AAD) == "张三"
    assert token_version(encrypt(rotated, "张三", AAD)) == 2


def test_reencrypt_moves_token_to_current_version(ring: KeyRing) -> None:
    old_token = encrypt(ring, "张三", AAD)
    rotated = ring.with_new_version()

    moved = reencrypt(rotated, old_token, AAD)
    assert token_version(moved) == 2
    assert decrypt(rotated, moved, AAD) == "张三"
    # Already current: returned as is, not re-sealed under a new nonce.
    assert reencrypt(rotated, moved, AAD) == moved


def test_reencrypt_refuses_wrong_aad(ring: KeyRing) -> None:
    old_token = encrypt(ring, "张三", AAD)
    with pytest.raises(DecryptionError):
        reencrypt(ring.with_new_version(), old_token, order_aad(7, "other", "name"))


def test_keys_are_read_only(ring: KeyRing) -> None:
    with pytest.raises(TypeError):
        ring.keys[2] = b"\0" * 32  # type: ignore[index]


def test_repr_has_no_key_material(ring: KeyRing) -> None:
    rotated = ring.with_new_version()
    for text in (repr(rotated), str(rotated), f"{rotated!r}"):
        assert not _leaks(text, rotated)
    assert "current_version=2" in repr(rotated)


# --------------------------------------------------------------------------- key file


def test_save_writes_mode_0600_and_loads_back(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "data-keys.json"
    previous = os.umask(0)  # a permissive umask must not make the file readable by others
    try:
        rotated = ring.with_new_version()
        rotated.save(path)
    finally:
        os.umask(previous)

    assert _file_mode(path) == 0o600
    loaded = KeyRing.load(path)
    assert loaded.current_version == 2
    assert loaded == rotated
    assert loaded.keys[1] == ring.keys[1]
    assert loaded.index_key == ring.index_key
    assert loaded.receiver_key_secret == ring.receiver_key_secret


def test_save_replaces_atomically_and_leaves_no_temp_file(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "data-keys.json"
    path.write_text("old")
    path.chmod(0o644)

    ring.save(path)

    assert _file_mode(path) == 0o600
    assert KeyRing.load(path) == ring
    assert [p.name for p in tmp_path.iterdir()] == ["data-keys.json"]


def test_save_without_overwrite_keeps_existing_keys(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "data-keys.json"
    ring.save(path)
    with pytest.raises(FileExistsError):
        KeyRing.generate().save(path, overwrite=False)
    assert KeyRing.load(path) == ring


def test_missing_keys_without_create(tmp_path: Path) -> None:
    path = tmp_path / "data-keys.json"
    with pytest.raises(MissingKeysError) as excinfo:
        load_or_create(path, create=False)
    assert isinstance(excinfo.value, RuntimeError)
    assert str(path) in str(excinfo.value)
    assert "portal init" in str(excinfo.value)
    assert not path.exists()


def test_create_writes_0600_file_once(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "data-keys.json"
    created = load_or_create(path, create=True)

    assert _file_mode(path) == 0o600
    assert load_or_create(path, create=True) == created
    assert load_or_create(path, create=False) == created


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_group_or_world_accessible_file_is_refused(
    tmp_path: Path, ring: KeyRing, mode: int
) -> None:
    path = tmp_path / "data-keys.json"
    ring.save(path)
    path.chmod(mode)

    with pytest.raises(InsecureKeyFileError) as excinfo:
        load_or_create(path, create=True)
    assert "chmod 600" in str(excinfo.value)
    # Refusing is not the same as replacing: the keys still on disk are the only copy.
    path.chmod(0o600)
    assert KeyRing.load(path) == ring


def _key_document(ring: KeyRing) -> dict:
    return json.loads(ring.to_json())


def _b64(n: int) -> str:
    return base64.b64encode(b"k" * n).decode()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: "[]",
        lambda d: "{not json",
        lambda d: {**d, "extra": 1},
        lambda d: {k: v for k, v in d.items() if k != "index_key"},
        lambda d: {**d, "format": 2},
        lambda d: {**d, "format": True},
        lambda d: {**d, "current_version": 3},
        lambda d: {**d, "current_version": "1"},
        lambda d: {**d, "aead_keys": {}},
        lambda d: {**d, "aead_keys": []},
        lambda d: {**d, "aead_keys": {"01": d["aead_keys"]["1"]}},
        lambda d: {**d, "aead_keys": {"one": d["aead_keys"]["1"]}},
        lambda d: {**d, "aead_keys": {"1": _b64(31)}},
        lambda d: {**d, "aead_keys": {"1": _b64(33)}},
        lambda d: {**d, "aead_keys": {"1": "!!" + d["aead_keys"]["1"][2:]}},
        lambda d: {**d, "aead_keys": {"1": 12345}},
        lambda d: {**d, "index_key": _b64(16)},
        lambda d: {**d, "receiver_key_secret": d["index_key"]},
    ],
)
def test_invalid_key_file_is_refused_without_leaking(
    tmp_path: Path, ring: KeyRing, corrupt
) -> None:
    path = tmp_path / "data-keys.json"
    document = corrupt(_key_document(ring))
    text = document if isinstance(document, str) else json.dumps(document)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)

    with pytest.raises(InvalidKeyFileError) as excinfo:
        load_or_create(path, create=True)
    assert isinstance(excinfo.value, RuntimeError)
    assert not _leaks(str(excinfo.value), ring)
    # No chained exception either: a decoder error would carry the file content.
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_from_json_does_not_chain_the_decoder_error(ring: KeyRing) -> None:
    # json.JSONDecodeError keeps the whole document (keys included) in its .doc attribute.
    broken = ring.to_json()[:-3]
    with pytest.raises(InvalidKeyFileError) as excinfo:
        KeyRing.from_json(broken)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__
    assert not _leaks(str(excinfo.value), ring)


def test_valid_key_file_layout(ring: KeyRing) -> None:
    document = _key_document(ring)
    assert set(document) == {
        "format",
        "current_version",
        "aead_keys",
        "index_key",
        "receiver_key_secret",
    }
    assert KeyRing.from_json(ring.to_json()) == ring


# --------------------------------------------------------------------------- blind index


def test_blind_index_is_the_same_for_every_notation_of_a_phone(ring: KeyRing) -> None:
    notations = [
        "13242203407",
        "１３２４２２０３４０７",
        "132 4220 3407",
        "132-4220-3407",
        "+86 132 4220 3407",
        "008613242203407",
        "13242203407-1041",
        "13242203407转1041",
        "13242203407#2222",
    ]
    indexes = {blind_index(ring, 7, n) for n in notations}
    assert len(indexes) == 1
    (index,) = indexes
    assert len(index) == 64
    assert int(index, 16) >= 0


def test_blind_index_is_merchant_scoped_and_keyed(ring: KeyRing) -> None:
    assert blind_index(ring, 7, "13242203407") != blind_index(ring, 8, "13242203407")
    assert blind_index(ring, 7, "13242203407") != blind_index(ring, 7, "13242203408")
    assert blind_index(ring, 7, "13242203407") != blind_index(KeyRing.generate(), 7, "13242203407")


def test_each_lookup_uses_its_own_key(ring: KeyRing) -> None:
    other = KeyRing.generate()
    same_index = KeyRing(ring.keys, 1, ring.index_key, other.receiver_key_secret)
    same_receiver = KeyRing(ring.keys, 1, other.index_key, ring.receiver_key_secret)

    phone = "13242203407"
    assert blind_index(same_index, 7, phone) == blind_index(ring, 7, phone)
    assert blind_index(same_receiver, 7, phone) != blind_index(ring, 7, phone)
    assert receiver_key(same_receiver, 7, *RECEIVER) == receiver_key(ring, 7, *RECEIVER)
    assert receiver_key(same_index, 7, *RECEIVER) != receiver_key(ring, 7, *RECEIVER)


def test_blind_index_of_empty_phone_is_empty(ring: KeyRing) -> None:
    assert blind_index(ring, 7, "") == ""
    assert blind_index(ring, 7, None) == ""
    assert blind_index(ring, 7, "\u200b") == ""


# --------------------------------------------------------------------------- receiver key

RECEIVER = (
    "刘洋",
    "13242203407-1041",
    "江苏省",
    "苏州市",
    "吴江区",
    "盛泽镇环城北路552号26栋304室",
)


def test_receiver_key_is_the_same_for_the_same_receiver_written_differently(
    ring: KeyRing,
) -> None:
    variant = (
        " 刘\u200b洋 ",
        "１３２ ４２２０ ３４０７转１０４１",
        "江苏省",
        "苏州市 ",
        "吴江区",
        "盛泽镇  环城北路５５２号 26栋304室",
    )
    key = receiver_key(ring, 7, *RECEIVER)
    assert len(key) == 32
    assert receiver_key(ring, 7, *variant) == key


def test_receiver_key_is_case_insensitive_for_latin_text(ring: KeyRing) -> None:
    assert receiver_key(ring, 7, "Alice", "", "", "", "", "Room 5B") == receiver_key(
        ring, 7, "ALICE", "", "", "", "", "room 5b"
    )


@pytest.mark.parametrize(
    "position, other",
    [
        (0, "刘阳"),
        (1, "13242203407-1042"),
        (1, "13242203408-1041"),
        (2, "浙江省"),
        (3, "无锡市"),
        (4, "吴中区"),
        (5, "盛泽镇环城北路552号26栋305室"),
    ],
)
def test_receiver_key_differs_for_a_different_receiver(
    ring: KeyRing, position: int, other: str
) -> None:
    changed = list(RECEIVER)
    changed[position] = other
    assert receiver_key(ring, 7, *changed) != receiver_key(ring, 7, *RECEIVER)


def test_receiver_key_is_merchant_scoped(ring: KeyRing) -> None:
    assert receiver_key(ring, 7, *RECEIVER) != receiver_key(ring, 8, *RECEIVER)


def test_receiver_key_field_boundaries_matter(ring: KeyRing) -> None:
    # Moving text from one field to the next must not give the same key.
    assert receiver_key(ring, 7, "张三", "", "北京市", "北京市", "朝阳区", "1号") != receiver_key(
        ring, 7, "张", "", "三北京市", "北京市", "朝阳区", "1号"
    )


def test_receiver_key_of_empty_receiver_is_empty(ring: KeyRing) -> None:
    assert receiver_key(ring, 7, "", None, " ", "", "", "\x00") == ""


# --------------------------------------------------------------------------- order receiver

ORDER_NO = "261118-190888440937964"


def test_protect_and_reveal_receiver(ring: KeyRing) -> None:
    protected = protect_receiver(
        ring,
        7,
        ORDER_NO,
        " 刘洋\x00",
        "１３２４２２０３４０７转１０４１",
        "江苏省",
        "苏州市",
        "吴江区",
        "盛泽镇 552号",
    )

    assert protected.name_mask == "刘**"
    assert protected.phone_mask == "132****3407"
    assert protected.detail_mask == "****"
    assert protected.phone_index == blind_index(ring, 7, "13242203407")
    assert protected.receiver_key == receiver_key(
        ring, 7, "刘洋", "13242203407-1041", "江苏省", "苏州市", "吴江区", "盛泽镇 552号"
    )
    for token in (protected.name_enc, protected.phone_enc, protected.detail_enc):
        assert token_version(token) == 1
    assert "刘洋" not in repr(protected)
    assert "13242203407" not in repr(protected)

    # Stored cleaned: no NUL, phone in the canonical form couriers expect.
    revealed = reveal_receiver(
        ring, 7, ORDER_NO, protected.name_enc, protected.phone_enc, protected.detail_enc
    )
    assert revealed == ("刘洋", "13242203407-1041", "盛泽镇 552号")


def test_protected_receiver_cannot_be_moved_to_another_order(ring: KeyRing) -> None:
    protected = protect_receiver(ring, 7, ORDER_NO, "刘洋", "13242203407", "", "", "", "552号")
    fields = (protected.name_enc, protected.phone_enc, protected.detail_enc)

    with pytest.raises(DecryptionError):
        reveal_receiver(ring, 7, "261118-000000000000000", *fields)
    with pytest.raises(DecryptionError):
        reveal_receiver(ring, 8, ORDER_NO, *fields)
    with pytest.raises(DecryptionError):
        # Name and phone swapped between columns.
        reveal_receiver(ring, 7, ORDER_NO, protected.phone_enc, protected.name_enc, "")


def test_protect_receiver_keeps_empty_fields_empty(ring: KeyRing) -> None:
    protected = protect_receiver(ring, 7, ORDER_NO, "刘洋", "", "", "", "", "")
    assert protected.phone_enc == protected.detail_enc == ""
    assert protected.phone_mask == protected.detail_mask == protected.phone_index == ""
    assert reveal_receiver(ring, 7, ORDER_NO, protected.name_enc, "", "") == ("刘洋", "", "")


def test_a_ring_reads_its_file_again_for_a_version_rotated_elsewhere(tmp_path) -> None:
    path = tmp_path / "keys.json"
    KeyRing.generate().save(path)
    this_process = KeyRing.load(path)
    # Another process runs rotate-keys: the file gains v2 and new orders are sealed under it.
    rotated = KeyRing.load(path).with_new_version()
    rotated.save(path)
    aad = order_aad(1, "261121-000000000000001", "name")
    token = encrypt(rotated, "欧阳娜娜", aad)
    assert decrypt(this_process, token, aad) == "欧阳娜娜"
    # A file holding another ring altogether is never mixed in.
    stranger = KeyRing.generate().with_new_version().with_new_version()
    strange_token = encrypt(stranger, "欧阳娜娜", aad)
    stranger.save(path)
    with pytest.raises(DecryptionError):
        decrypt(this_process, strange_token, aad)
