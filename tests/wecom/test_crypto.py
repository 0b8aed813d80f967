import base64

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.support import AES_KEY, CORP_ID, TOKEN
from wecom.crypto import BadSignature, ForeignReceiver, MalformedCiphertext, WeComCrypto, signature

# tests/data/wecom/vectors.md, set A (Tencent's WXBizMsgCrypt sample)
A_VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": (
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    ),
}
A_MESSAGE = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
    "encrypted": (
        "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTk"
        "AgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQ"
        "bZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7Mhm"
        "EbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/o"
        "xwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
    ),
}
A_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)

# set B (wechatpy's work-crypto vectors)
B = WeComCrypto("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
B_ECHO = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
B_ENCRYPTED = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrs"
    "TyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+B"
    "iYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vX"
    "UaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShy"
    "qio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_official_url_verification(crypto):
    v = A_VERIFY
    plain = crypto.verify_and_decrypt(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"])
    assert plain == "1288432023552776189"


def test_official_message(crypto):
    m = A_MESSAGE
    plain = crypto.verify_and_decrypt(
        m["msg_signature"], m["timestamp"], m["nonce"], m["encrypted"]
    )
    assert plain == A_PLAIN


def test_wechatpy_vectors():
    assert (
        B.verify_and_decrypt(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", B_ECHO
        )
        == "5927782489442352469"
    )
    with pytest.raises(BadSignature):
        B.verify("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374424", B_ECHO)
    plain = B.verify_and_decrypt(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294", B_ENCRYPTED
    )
    assert "<Content><![CDATA[test]]></Content>" in plain
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in plain
    assert "4363689963896700987" in plain


def test_round_trip_and_padding_to_32_bytes(crypto):
    for size in (0, 1, 11, 12, 13, 31, 32, 33, 1000):
        message = "孕" * size
        encrypted = crypto.encrypt(message)
        raw = base64.b64decode(encrypted)
        assert len(raw) % 32 == 0
        assert crypto.decrypt(encrypted) == message
    assert crypto.encrypt("x") != crypto.encrypt("x")  # fresh random prefix each time


def test_interoperates_with_wechatpy(crypto):
    oracle = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    theirs = oracle.encrypt_message("<xml><Content>预产期</Content></xml>", "nonce1", "1700000000")
    encrypted = theirs.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert crypto.decrypt(encrypted) == "<xml><Content>预产期</Content></xml>"
    ours = crypto.encrypt("<xml><Content>宝宝</Content></xml>")
    signature_ = crypto.sign("1700000000", "n2", ours)
    body = f"<xml><Encrypt><![CDATA[{ours}]]></Encrypt></xml>"
    assert oracle.decrypt_message(body, signature_, "1700000000", "n2") == (
        "<xml><Content>宝宝</Content></xml>"
    )


def test_signature_is_sorted_sha1():
    assert signature("b", "a", "c", "d") == signature("d", "c", "b", "a")


@pytest.mark.parametrize(
    "encrypted",
    [
        "not base64 !!",
        "",
        base64.b64encode(b"0123456789").decode(),
        base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_malformed_ciphertext(crypto, encrypted):
    with pytest.raises(MalformedCiphertext):
        crypto.decrypt(encrypted)


def test_message_for_another_corp(crypto):
    other = WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse")
    with pytest.raises(ForeignReceiver):
        crypto.decrypt(other.encrypt("<xml/>"))


def test_wrong_key_is_refused(crypto):
    other = WeComCrypto(TOKEN, "a" * 43, CORP_ID)
    with pytest.raises((MalformedCiphertext, ForeignReceiver)):
        crypto.decrypt(other.encrypt("<xml><Content>hi</Content></xml>"))


def test_bad_key_shape():
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, "short", CORP_ID)
