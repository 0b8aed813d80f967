"""WeCom callback signatures and AES-256-CBC message encryption (WXBizMsgCrypt).

signature = sha1 of the sorted concatenation of token, timestamp, nonce and the encrypted text.
ciphertext = AES-256-CBC(key = b64decode(EncodingAESKey + "="), IV = key[:16]) over
16 random bytes + 4-byte big-endian length + message + receiveid, PKCS#7-padded to 32 bytes.

Written on `cryptography` rather than wechatpy 1.8.18's helper because that one neither checks
the padding nor turns malformed input into one clear error; tests use wechatpy as an oracle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_BITS = 256  # WeCom pads to 32-byte blocks, not AES's 16


class CallbackError(Exception):
    """A callback that must be refused; `status` is the HTTP status to answer with."""

    status = 400


class BadSignature(CallbackError):
    status = 403


class ForeignReceiver(CallbackError):
    """Decrypted fine but addressed to another corp (receiveid mismatch)."""

    status = 403


class MalformedCiphertext(CallbackError):
    status = 400


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


class WeComCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self._token = token
        self._key = key
        self._receive_id = receive_id.encode()

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        # compare_digest takes only ASCII text: anything else cannot be a sha1 hex digest
        if not msg_signature.isascii() or not hmac.compare_digest(expected, msg_signature.lower()):
            raise BadSignature("signature does not match")

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedCiphertext("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise MalformedCiphertext("ciphertext length is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise MalformedCiphertext("bad padding (wrong key or corrupted message)") from None
        if len(plain) < 20:
            raise MalformedCiphertext("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise MalformedCiphertext("message length exceeds plaintext")
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if receive_id != self._receive_id:
            raise ForeignReceiver("message is addressed to another receiver")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCiphertext("message is not UTF-8") from None

    def verify_and_decrypt(
        self, msg_signature: str, timestamp: str, nonce: str, encrypted: str
    ) -> str:
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt(self, message: str) -> str:
        body = message.encode("utf-8")
        plain = secrets.token_bytes(16) + struct.pack(">I", len(body)) + body + self._receive_id
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self._token, timestamp, nonce, encrypted)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))
