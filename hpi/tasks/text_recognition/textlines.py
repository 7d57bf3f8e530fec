"""Render labeled text-line images, deterministic from a seed (for tuning, benchmarks and tests).

Lines mix Chinese, English, digits and punctuation, short and very long, drawn with a real font and degraded
as real crops are (blur, noise, JPEG, slight rotation, low contrast). The output is a PaddleOCR recognition
dataset: image files plus `labels.txt` with `relative/path<TAB>text` per line.

    python benchmarks/make_text_lines.py --font .cache/test_models/fonts/simfang.ttf --count 400 --out DIR

Without --font, the font bundled with hpi is used.
"""
from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Common hanzi (all in PP-OCR's ppocr_keys_v1 dictionary), grouped into everyday words.
CHINESE_WORDS = (
    "中国 北京 上海 广州 深圳 公司 有限 责任 科技 发展 银行 医院 学校 大学 图书馆 超市 饭店 宾馆 酒店 公寓 花园 "
    "广场 中心 大厦 商场 市场 地铁 车站 机场 出口 入口 停车场 电话 地址 时间 日期 价格 数量 金额 合计 总计 "
    "人民币 发票 收据 编号 姓名 性别 年龄 民族 身份证 号码 手机 邮箱 网址 营业 执照 注册 资本 经营 范围 "
    "产品 服务 质量 安全 健康 教育 文化 旅游 交通 工程 建设 管理 办公室 会议 通知 欢迎 光临 谢谢 禁止 吸烟 "
    "注意 小心 台阶 紧急 安全 出口 营业时间 早上 晚上 星期 今天 明天 天气 温度 新鲜 水果 蔬菜 面包 牛奶 咖啡 "
    "茶叶 米饭 面条 饺子 包子 鸡蛋 猪肉 牛肉 鱼 汤 菜单 特价 优惠 促销 打折 免费 送货 上门 维修 保养 "
    "绿洲 仕格维 花园公寓 人民路 解放路 建设路 中山路 东路 西路 南路 北路 号楼 单元 室 区 市 省 县 镇 村"
).split()
ENGLISH_WORDS = (
    "the quick brown fox jumps over lazy dog text recognition model inference runtime paddle open vino onnx "
    "invoice total amount date customer service hotel restaurant parking exit entrance welcome thank you "
    "street road avenue building floor room office phone email address price quantity discount free delivery "
    "quality health education culture travel station airport market center plaza garden apartment company "
    "Limited Technology Development Bank Hospital School University Library Open Monday Friday Sunday"
).split()
PUNCT = ",.:;!?-/()%+#&"
CN_PUNCT = "，。：；！？、（）《》"


def random_line(rng: random.Random) -> str:
    kind = rng.choices(["zh", "en", "digits", "mixed", "long_zh", "long_mixed"], [30, 20, 12, 18, 10, 10])[0]
    if kind == "zh":
        return "".join(rng.choice(CHINESE_WORDS) for _ in range(rng.randint(1, 5))) + rng.choice(["", "", rng.choice(CN_PUNCT)])
    if kind == "en":
        words = [rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice(["", "", ".", ":", "!"])
    if kind == "digits":
        return rng.choice([
            lambda: f"{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            lambda: f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
            lambda: f"1{rng.randint(30, 99)}{rng.randint(10000000, 99999999)}",
            lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            lambda: f"No.{rng.randint(100, 99999)}",
            lambda: f"{rng.randint(1, 100)}%",
        ])()
    if kind == "mixed":
        return rng.choice(CHINESE_WORDS) + rng.choice(["：", ":", " "]) + rng.choice([
            str(rng.randint(1, 99999)), rng.choice(ENGLISH_WORDS), f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}元"])
    if kind == "long_zh":
        parts = [rng.choice(CHINESE_WORDS) for _ in range(rng.randint(8, 16))]
        return "".join(p + (rng.choice(CN_PUNCT) if rng.random() < 0.15 else "") for p in parts)
    words = []
    for _ in range(rng.randint(6, 12)):
        words.append(rng.choice([rng.choice(ENGLISH_WORDS), rng.choice(CHINESE_WORDS), str(rng.randint(0, 9999))]))
    return " ".join(words) + rng.choice(PUNCT)


def render(text: str, font_path: str, rng: random.Random) -> Image.Image:
    size = rng.randint(26, 40)
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = rng.randint(4, 14), rng.randint(3, 10)
    width, height = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    light = rng.randint(170, 255)
    dark = rng.randint(0, min(110, light - 60))
    if rng.random() < 0.15:  # light text on a dark background, as on signs
        light, dark = dark, light
    bg = tuple(int(np.clip(light + rng.randint(-15, 15), 0, 255)) for _ in range(3))
    fg = tuple(int(np.clip(dark + rng.randint(-15, 15), 0, 255)) for _ in range(3))
    image = Image.new("RGB", (width, height), bg)
    ImageDraw.Draw(image).text((pad_x - left, pad_y - top), text, font=font, fill=fg)
    if rng.random() < 0.4:
        image = image.rotate(rng.uniform(-2.0, 2.0), resample=Image.BILINEAR, expand=True, fillcolor=bg)
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(image).astype(np.float32)
    if rng.random() < 0.5:
        noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 10), pixels.shape)
        pixels += noise
    if rng.random() < 0.25:  # low contrast
        pixels = 128 + (pixels - 128) * rng.uniform(0.45, 0.7)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:  # downscale and back, as crops from a small photo are
        factor = rng.uniform(0.6, 0.85)
        small = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.BILINEAR)
        image = small.resize(image.size, Image.BILINEAR)
    return image


def render_lines(count: int, seed: int = 0, font: str = None):
    """[(BGR uint8 image, text)] in memory: what `hpi tune` measures with."""
    from ...visualize import BUNDLED_FONT

    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        text = random_line(rng)
        rgb = np.asarray(render(text, font or str(BUNDLED_FONT), rng))
        lines.append((np.ascontiguousarray(rgb[:, :, ::-1]), text))
    return lines


def make_dataset(out: Path, font: str, count: int, seed: int, jpeg_quality=(70, 95)) -> Path:
    rng = random.Random(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    labels = []
    for index in range(count):
        text = random_line(rng)
        image = render(text, font, rng)
        name = f"images/line_{index:04d}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=rng.randint(*jpeg_quality))
        (out / name).write_bytes(buffer.getvalue())
        labels.append(f"{name}\t{text}")
    labels_path = out / "labels.txt"
    labels_path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return labels_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", default=None, help="a TrueType font covering CJK (default: hpi's bundled font)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ...visualize import BUNDLED_FONT

    path = make_dataset(Path(args.out), args.font or str(BUNDLED_FONT), args.count, args.seed)
    print(f"wrote {args.count} lines, labels in {path}")
    return 0

