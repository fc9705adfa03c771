from __future__ import annotations

import pytest

from services.parser.langdetect import detect_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The Minister of Foreign Affairs held talks with his counterpart in the capital.", "en"),
        ("Министр иностранных дел провел переговоры с коллегой.", "ru"),
        ("国务委员兼外长王毅会见斯洛文尼亚外长。", "zh"),
        ("國務委員兼外長王毅會見斯洛文尼亞外長。", "zh"),
        ("外務大臣は、ドイツの外務大臣と会談を行いました。", "ja"),
        # mixed scripts: a Latin acronym and name inside a Chinese sentence
        ("王毅在纽约会见 UNGA President Dennis Francis 并就联合国改革交换意见，双方同意加强合作。", "zh"),
        ("Сейтов (Arman Seitov) провел переговоры с госсекретарем США в Москве в понедельник.", "ru"),
        ("El canciller se reunió con su homólogo en la capital para hablar de comercio.", "es"),
        ("Die Außenministerin traf sich mit ihrem Amtskollegen und sprach über die Lage.", "de"),
        ("Le ministre a reçu son homologue pour un entretien sur la coopération.", "fr"),
        ("Dışişleri Bakanı, mevkidaşı ile bir araya geldi ve ilişkiler için görüştü.", "tr"),
        ("Сыртқы істер министрі әріптесімен кездесті және екіжақты қатынастарды талқылады.", "kk"),
        ("التقى وزير الخارجية مع نظيره في الرياض (Riyadh) لبحث العلاقات.", "ar"),
    ],
)
def test_detect(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_no_letters() -> None:
    assert detect_language("12345 -- !!", default="xx") == "xx"
