"""Write data/emergency/labelled.yml: the learned emergency detector's training sentences.

Why generated: the classifier needs many wordings of each of the nine categories and of every
kind of near miss, and the wordings must not be copies of the held-out sets. So the sentences
are built from small hand-written parts (who, where, what happened, what the user needs, how
the message is dressed: a question before or after, no punctuation, traditional script, a typo,
English mixed in) with a fixed seed. Run `python -m scripts.make_emergency_data` after editing
the parts; the output is committed, and tests/test_emergency_learned.py checks that it never
overlaps a held-out file.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable, Iterable

import yaml

from bot.kb.emergency import CATEGORIES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "emergency" / "labelled.yml"
HELD_OUT = sorted((ROOT / "tests" / "data").glob("emergency_*.yml"))
PER_CATEGORY = 140
PER_NEAR_KIND = 70
SEED = 20261201

WHO = [
    "我爸",
    "我妈",
    "父亲",
    "母亲",
    "外婆",
    "外公",
    "奶奶",
    "爷爷",
    "我老公",
    "我老婆",
    "我哥",
    "我姐",
    "我弟弟",
    "妹妹",
    "舅舅",
    "姑妈",
    "小姨",
    "岳父",
    "丈母娘",
    "婆婆",
    "公公",
    "女儿",
    "儿子",
    "大伯",
    "表哥",
    "堂姐",
    "姥姥",
    "老爸",
    "老妈",
    "我爱人",
    "继父",
    "养母",
    "未婚夫",
]
PLACE = [
    "美国",
    "日本",
    "澳大利亚",
    "英国",
    "加拿大",
    "香港",
    "澳门",
    "台湾",
    "新加坡",
    "泰国",
    "德国",
    "法国",
    "韩国",
    "马来西亚",
    "意大利",
    "新西兰",
    "迪拜",
    "西班牙",
    "俄罗斯",
    "越南",
    "柬埔寨",
    "菲律宾",
    "印尼",
    "荷兰",
    "巴西",
    "南非",
    "纽约",
    "东京",
    "悉尼",
    "伦敦",
    "首尔",
    "多伦多",
    "吉隆坡",
    "曼谷",
    "温哥华",
    "洛杉矶",
    "墨尔本",
    "大阪",
    "巴黎",
    "沙特",
]
DOC = ["护照", "港澳通行证", "台湾通行证", "通行证", "签注", "护照和签证"]
DOC_PROBLEM = ["过期了", "还没办", "快到期了", "还在审批", "还没下来", "没有了", "用完了次数"]
NEAR = [
    "明天",
    "后天",
    "大后天",
    "这周五",
    "下周一",
    "下周三",
    "下礼拜",
    "过两天",
    "三天后",
    "这个周末",
    "明天一早",
    "今晚",
    "下星期二",
    "周四",
]
FAR = ["下个月", "明年", "暑假", "寒假", "国庆", "春节", "明年夏天", "年底", "半年后", "过年"]
ASK_TAIL = [
    "能加急吗",
    "最快多久能办好",
    "怎么办",
    "来得及吗",
    "能当天拿吗",
    "要带什么材料",
    "可以走绿色通道吗",
    "急",
    "很急",
    "急死了",
    "求帮忙",
    "能不能快点",
    "需要什么手续",
]
QUESTION = [
    "请问办护照要多少钱",
    "港澳通行证在哪里办",
    "签注怎么续",
    "护照照片有什么要求",
    "办证大厅几点开门",
    "补办护照要什么材料",
    "通行证多久能拿到",
]
OPENER = [
    "",
    "",
    "",
    "你好，",
    "您好 ",
    "请问一下，",
    "急！",
    "刚接到电话，",
    "麻烦问下，",
    "救命，",
    "那个，",
    "是这样的，",
]
ENGLISH_TAIL = ["", "", "", "", " urgent", " help", " asap", " please help", " so urgent"]
TYPOS = {
    "去世": "去逝",
    "过世": "过逝",
    "护照": "户照",
    "签注": "签住",
    "通行证": "通行正",
    "病危": "病为",
    "加急": "家急",
    "报到": "报道",
    "合同": "和同",
}

DEATH = [
    "去世了",
    "过世了",
    "走了",
    "病逝了",
    "离世了",
    "突然没了",
    "因病去世",
    "意外身亡",
    "心脏病去世",
    "昨晚走了",
    "今早过世",
    "没抢救过来",
    "猝死了",
    "遇难了",
    "过身了",
]
BEREAVE_NEED = [
    "要去奔丧",
    "我得马上过去处理后事",
    "葬礼就在{near}",
    "我们要赶过去",
    "要去办丧事",
    "家里让我去料理后事",
    "要去送最后一程",
    "追悼会定在{near}",
    "我要去接骨灰回来",
    "得赶过去见最后一面",
    "需要家属去认领遗体",
]
CRITICAL = [
    "病危了",
    "住进了ICU",
    "下了病危通知书",
    "正在抢救",
    "突发脑溢血",
    "心梗昏迷",
    "中风了很严重",
    "快不行了",
    "重症监护中",
    "病得很重",
    "大出血在抢救",
    "昏迷不醒",
    "生命垂危",
    "情况很危险",
    "突发心脏病住院",
    "插着呼吸机",
]
VISIT_NEED = [
    "我要马上过去",
    "医生让家属赶紧过去",
    "想见我最后一面",
    "我得去陪护",
    "我要赶过去看他",
    "家里让我过去照顾",
    "需要家属签字",
    "我要尽快赶到",
]
ILLNESS = [
    "肺癌晚期",
    "确诊白血病",
    "得了淋巴瘤",
    "肝癌",
    "乳腺癌复发",
    "脑瘤",
    "先天性心脏病",
    "罕见病",
    "尿毒症",
    "胰腺癌",
    "鼻咽癌",
    "骨髓增生异常",
    "渐冻症",
    "肾衰竭",
    "癌症",
]
TREAT = [
    "要去{place}治疗",
    "准备去{place}做手术",
    "去{place}做靶向治疗",
    "{place}的医院同意接收了",
    "要去{place}做质子治疗",
    "约了{place}的医院{near}入院",
    "想去{place}用新药",
    "要去{place}做移植",
    "国内治不了要去{place}",
    "去{place}参加临床试验",
    "要出国治病",
    "要赴{place}就医",
]
INCIDENT = [
    "被扣押了",
    "失联了",
    "联系不上了",
    "出车祸了",
    "被警察抓了",
    "被绑架了",
    "遇到地震被困",
    "被骗去搞电诈",
    "被拘留了",
    "受了重伤",
    "遇到枪击",
    "失踪两天了",
    "被抢劫受伤",
    "出了事故",
    "被人打伤住院",
    "滞留在机场出不来",
]
INCIDENT_ORG = [
    "公司在{place}的工厂着火了",
    "我们在{place}的员工被绑架了",
    "公司的货在{place}海关被扣了",
    "项目在{place}出了安全事故",
    "我们的船在{place}港口出事了",
    "{place}的工地发生爆炸",
]
INCIDENT_NEED = [
    "我要过去处理",
    "我得赶过去",
    "公司派我去",
    "我必须马上去",
    "家里就我能去",
    "我要去救人",
    "要家属过去",
]
BUSINESS = [
    "开紧急会议",
    "谈判",
    "见客户",
    "参加展会",
    "投标",
    "参加董事会",
    "出庭",
    "参加峰会",
    "路演",
    "谈合作",
    "参加研讨会",
    "面试",
    "验厂",
    "参加发布会",
]
CONTRACT = ["签合同", "签协议", "签约", "签订合作合同", "签署投资协议", "签购销合同", "签字盖章"]
STUDY = [
    "大学报到",
    "开学",
    "入学报到",
    "研究生注册",
    "读研报到",
    "到校注册",
    "交换生项目开始",
    "读博报到",
    "学校报到截止",
]
LOSS = [
    "丢了",
    "找不到了",
    "被偷了",
    "被狗咬坏了",
    "被洗衣机洗烂了",
    "泡水了",
    "被孩子撕坏了",
    "弄丢了",
    "不见了",
    "落在出租车上了",
    "被老鼠啃了",
    "烧坏了一角",
    "被抢了",
    "掉水里了",
]
VISA = [
    "签证",
    "入境许可",
    "入台证",
    "在留资格认定证明书",
    "工作签证",
    "学生签证",
    "电子签证",
    "申根签证",
    "工作准证",
    "旅游签证",
    "探亲签证",
]
EXPIRING = [
    "快到期了",
    "即将到期",
    "{near}就到期",
    "只剩五天有效期",
    "要求{near}前入境",
    "下周就过期",
    "入境期限快到了",
    "还有几天就失效",
    "月底到期",
    "最晚入境日期是{near}",
    "有效期只剩一周",
]
VISA_NEED = [
    "护照还没换好",
    "护照过期了要换新的",
    "护照还在办",
    "新护照还没下来",
    "台胞证还没办好",
    "护照能加急吗",
    "得赶在之前过去",
    "护照还在制证",
]


def _fill(template: str, rnd: random.Random) -> str:
    return template.format(place=rnd.choice(PLACE), near=rnd.choice(NEAR), far=rnd.choice(FAR))


def _core(category: str, rnd: random.Random) -> str:
    """One plain sentence of the category, before any dressing."""
    c = rnd.choice
    if category == "bereavement":
        return f"{c(WHO)}在{c(PLACE)}{c(DEATH)}，{_fill(c(BEREAVE_NEED), rnd)}"
    if category == "critical_illness_visit":
        return f"{c(WHO)}在{c(PLACE)}{c(CRITICAL)}，{c(VISIT_NEED)}"
    if category == "medical_treatment":
        who = c(WHO + ["我", "我自己", "孩子"])
        return f"{who}{c(ILLNESS)}，{_fill(c(TREAT), rnd)}"
    if category == "overseas_incident":
        if rnd.random() < 0.3:
            return f"{_fill(c(INCIDENT_ORG), rnd)}，{c(INCIDENT_NEED)}"
        return f"{c(WHO)}在{c(PLACE)}{c(INCIDENT)}，{c(INCIDENT_NEED)}"
    if category == "urgent_business":
        return f"{c(NEAR)}要去{c(PLACE)}{c(BUSINESS)}，{c(DOC)}{c(DOC_PROBLEM)}"
    if category == "contract_signing":
        return f"{c(NEAR)}要去{c(PLACE)}{c(CONTRACT)}，{c(DOC)}{c(DOC_PROBLEM)}"
    if category == "study_deadline":
        who = c(["我", "孩子", "女儿", "儿子", "我"])
        return f"{who}{c(NEAR)}要去{c(PLACE)}{c(STUDY)}，{c(DOC)}{c(DOC_PROBLEM)}"
    if category == "document_lost":
        return f"{c(DOC[:4])}{c(LOSS)}，{c(NEAR)}就要去{c(PLACE)}"
    if category == "visa_expiring":
        return f"{c(PLACE)}的{c(VISA)}{_fill(c(EXPIRING), rnd)}，{c(VISA_NEED)}"
    raise ValueError(category)


# English cores as citizens mix them in (the Chinese part then says what they need).
ENGLISH = {
    "bereavement": [
        "my {e} passed away in {place}",
        "my {e} died in {place}",
        "{e} passed away, funeral in {place}",
    ],
    "critical_illness_visit": [
        "my {e} is in ICU in {place}",
        "my {e} is critically ill in {place}",
    ],
    "medical_treatment": [
        "my {e} needs surgery in {place}",
        "cancer treatment in {place} for my {e}",
    ],
    "overseas_incident": [
        "my {e} was arrested in {place}",
        "my {e} is missing in {place}",
        "my {e} had an accident in {place}",
    ],
    "urgent_business": [
        "urgent meeting in {place} {near}",
        "business negotiation in {place} {near}",
    ],
    "contract_signing": [
        "contract signing in {place} {near}",
        "need to sign a contract in {place} {near}",
    ],
    "study_deadline": [
        "school registration in {place} {near}",
        "university enrolment {near} in {place}",
    ],
    "document_lost": [
        "lost my passport, flight to {place} {near}",
        "passport stolen, going to {place} {near}",
    ],
    "visa_expiring": ["my {place} visa expires {near}", "visa for {place} expiring soon"],
}
ENGLISH_WHO = [
    "dad",
    "mom",
    "father",
    "mother",
    "wife",
    "husband",
    "son",
    "daughter",
    "grandma",
    "brother",
]
ENGLISH_NEAR = ["tomorrow", "next week", "this friday", "next monday", "in 3 days"]
ENGLISH_NEED = [
    "，护照过期了",
    "，我要马上过去",
    "，通行证能加急吗",
    "，护照怎么加急",
    " 急",
    "，护照还没办",
]


def _english(category: str, rnd: random.Random) -> str:
    c = rnd.choice
    core = c(ENGLISH[category]).format(e=c(ENGLISH_WHO), place=c(PLACE), near=c(ENGLISH_NEAR))
    return core + c(ENGLISH_NEED)


def _dress(text: str, rnd: random.Random, t2s_inverse: Callable[[str], str]) -> str:
    """A citizen's way of writing it: opener, a question around it, no punctuation, script."""
    r = rnd.random()
    if r < 0.2:
        text = f"{rnd.choice(QUESTION)}，另外{text}"
    elif r < 0.35:
        text = f"{text}，{rnd.choice(QUESTION)}"
    else:
        text = f"{rnd.choice(OPENER)}{text}，{rnd.choice(ASK_TAIL)}"
    text += rnd.choice(ENGLISH_TAIL)
    if rnd.random() < 0.15:
        text = re.sub(r"[，。！？,!?]", " ", text).strip()
    if rnd.random() < 0.12:
        typo = rnd.choice(list(TYPOS))
        text = text.replace(typo, TYPOS[typo], 1)
    if rnd.random() < 0.12:
        text = t2s_inverse(text)
    return text


# ------------------------------------------------------------------ near misses, by kind


def _third(category: str, rnd: random.Random) -> str:
    """A category's event told about someone in a story (no need of the user)."""
    c = rnd.choice
    person = c(["主角", "女主", "男主", "他", "她", "那个人", "一个留学生", "老人", "一家人"])
    events = {
        "bereavement": f"{person}的爸爸在{c(PLACE)}{c(DEATH)}",
        "critical_illness_visit": f"{person}的妈妈在{c(PLACE)}{c(CRITICAL)}",
        "medical_treatment": f"{person}{c(ILLNESS)}去{c(PLACE)}治疗",
        "overseas_incident": f"{person}在{c(PLACE)}{c(INCIDENT)}",
        "urgent_business": f"{person}去{c(PLACE)}{c(BUSINESS)}",
        "contract_signing": f"{person}去{c(PLACE)}{c(CONTRACT)}前护照出了问题",
        "study_deadline": f"{person}去{c(PLACE)}{c(STUDY)}前签证没下来",
        "document_lost": f"{person}的护照{c(LOSS)}",
        "visa_expiring": f"{person}的{c(VISA)}快到期了",
    }
    return events[category]


def _near(kind: str, rnd: random.Random) -> str:
    c = rnd.choice
    cat = c(CATEGORIES)
    if kind == "fiction":
        frame = c(
            [
                "昨晚看的电视剧里，{e}",
                "在看一部纪录片，讲{e}",
                "小说里{e}，写得很感人",
                "那部电影里{e}",
                "梦见{e}，吓醒了",
                "短剧里{e}，太狗血了",
                "游戏剧情里{e}",
                "综艺里{e}",
                "动漫里{e}",
                "刚看完一部讲{e}的片子",
                "我在写小说，情节是{e}",
            ]
        )
        return frame.format(e=_third(cat, rnd))
    if kind == "others":
        frame = c(
            [
                "新闻说{e}",
                "听说{e}",
                "朋友圈看到{e}",
                "网上看到{e}",
                "报道说{e}",
                "微博上说{e}",
                "抖音上有人说{e}",
                "听邻居讲{e}",
                "看到一个帖子，{e}",
                "老师讲过一个案例，{e}",
            ]
        )
        return frame.format(e=_third(cat, rnd))
    if kind == "past":
        frame = c(
            [
                "{y}{w}在{p}{d}，每年清明都去看看",
                "{y}我在{p}遇到过抢劫，现在还心有余悸",
                "{y}{w}在{p}生过一场大病，早就康复了",
                "{y}走过一次绿色通道，这次只是普通换证",
                "{y}我的{v}作废过一回，这次想早点准备",
                "{y}谈合同时在{p}待了一个月",
                "{y}在{p}读书，报到那天手忙脚乱",
                "{y}{w}在{p}做过手术，恢复得很好",
            ]
        )
        return frame.format(
            y=c(
                [
                    "去年",
                    "前年",
                    "三年前",
                    "以前",
                    "小时候",
                    "那年",
                    "当年",
                    "上次",
                    "早些年",
                    "十年前",
                ]
            ),
            w=c(WHO),
            p=c(PLACE),
            d=c(DEATH),
            v=c(VISA),
        )
    if kind == "hypothetical":
        frame = c(
            [
                "如果{e}，能加急吗",
                "万一{e}怎么办",
                "假如{e}，要什么证明",
                "要是以后{e}，流程是什么",
                "假设{e}，可以走绿色通道吗",
                "担心{e}",
                "怕{e}",
            ]
        )
        events = [
            f"家里人在{c(PLACE)}{c(DEATH)}",
            f"在{c(PLACE)}护照{c(LOSS)}",
            f"爸妈在国外{c(CRITICAL)}",
            f"{c(VISA)}快到期了护照还没办好",
            f"在{c(PLACE)}{c(INCIDENT)}",
            "出国前证件丢了",
            "开学前护照没下来",
            f"要去{c(PLACE)}治病",
        ]
        return frame.format(e=c(events))
    if kind == "negation":
        frame = c(
            [
                "{w}在{p}看了急诊，检查下来一切正常",
                "{w}在{p}的手术很顺利，下周就回国了",
                "{w}在{p}一天没回消息，后来联系上了，没事",
                "{d}好像丢了，反正今年不出门，慢慢补",
                "{v}离到期还早，不赶时间",
                "没什么急事，随便问问{d}一般几天出证",
                "{w}在{p}有点发烧，小毛病",
                "以为{d}丢了，原来在抽屉里",
                "{f}才出发，正常办理就好",
                "{w}在{p}蹭了一下车，人都好好的",
                "不是家里出事，就是想出去走走",
                "签约定在{f}，时间很充裕",
                "{w}已经脱离危险转到普通病房了",
                "{w}在{p}摔了一下，拍片没骨折",
            ]
        )
        return frame.format(w=c(WHO), p=c(PLACE), f=c(FAR), d=c(DOC), v=c(VISA))
    if kind == "pet":
        pet = c(
            ["我家的狗", "我的猫", "狗狗", "猫咪", "家里的仓鼠", "我的鹦鹉", "泰迪", "金毛", "兔子"]
        )
        frame = c(
            [
                "{a}昨天走了，心里空落落的",
                "{a}在医院抢救，医生说很危险",
                "{a}在{p}寄养时丢了",
                "{a}年纪大了，这几天不吃东西",
                "{a}要做手术，{p}的宠物医院好吗",
                "{a}把沙发咬坏了",
                "{a}能不能一起带去{p}",
                "{a}过世了，想好好安葬它",
                "{a}得了癌症，想去{p}治疗",
            ]
        )
        return frame.format(a=pet, p=c(PLACE))
    if kind == "gc_question":
        case = c(
            [
                "奔丧",
                "探望病危亲属",
                "出国治病",
                "境外突发事件",
                "紧急开会谈判",
                "签合同",
                "留学报到临近",
                "证件丢了出行在即",
                "前往国签证快到期",
                "急事",
            ]
        )
        frame = c(
            [
                "{x}能走绿色通道吗",
                "{x}需要什么证明",
                "{x}算不算急事急办",
                "{x}可以加急吗",
                "{x}加急要多久",
                "绿色通道{y}",
                "急事急办{y}",
                "加急办证{y}",
            ]
        )
        return frame.format(
            x=case,
            y=c(["怎么申请", "要什么材料", "电话多少", "最快几天", "要多交钱吗", "有哪些情况"]),
        )
    if kind == "trip":
        frame = c(
            [
                "{f}想去{p}玩，{d}怎么办",
                "{f}带孩子去{p}旅游，要办什么",
                "{f}去{p}出差，{d}需要换吗",
                "准备{f}去{p}自由行",
                "{f}公司组织去{p}团建",
                "{f}去{p}读书，{d}什么时候办合适",
                "{n}去{p}玩两天，{d}还有效",
                "{f}去{p}参加展会，现在办{d}来得及吧",
                "{f}想去{p}看演唱会",
            ]
        )
        return frame.format(f=c(FAR), n=c(NEAR), p=c(PLACE), d=c(DOC))
    if kind == "ordinary":
        frame = c(
            [
                "{w}在{p}定居，想去住一段时间",
                "孩子在{p}上学，寒假想去看看他",
                "{d}过期了怎么换",
                "{d}要带什么材料",
                "办{d}要多少钱",
                "在国外出生的孩子怎么办{d}",
                "急！{d}照片能自己拍吗",
                "{n}去大厅办{d}要预约吗",
                "外国人居留许可延期要多久",
                "出国签合同需要公证吗",
                "去{p}留学要准备哪些材料",
                "{w}想去{p}看看",
            ]
        )
        return frame.format(w=c(WHO), p=c(PLACE), d=c(DOC), n=c(NEAR))
    if kind == "foreign_stay":
        # a foreigner's own visa or stay in China: extension and overstay questions, not the
        # destination's visa of visa_expiring
        frame = c(
            [
                "外国人在华签证{e}，怎么办延期",
                "我是外国人，签证{e}了，可以在{city}延期吗",
                "外籍{w}的签证{e}，还没离境怎么办",
                "留学生居留许可{e}，要去哪里续",
                "外国人居留逾期{k}天会罚款吗",
                "签证过期了{k}天还没离境，会被遣送吗",
                "外国朋友来华探亲，停留期{e}了能延长吗",
                "外籍员工工作签证{e}，单位要准备什么",
                "my {t} visa in China {ee}, how do I extend my stay",
                "my residence permit {ee}, can I renew it in {city_en}",
                "I overstayed my visa by {k} days in {city_en}, what is the fine",
                "my {t} visa {ee}, can I get an extension without leaving China",
                "I am a foreigner and my stay permit {ee}, what should I do",
            ]
        )
        return frame.format(
            e=c(["快到期", "即将到期", "下周到期", "马上过期", "就要到期", "还有五天到期"]),
            ee=c(
                ["expires next week", "is expiring soon", "expires in 3 days", "is about to expire"]
            ),
            w=c(["同事", "朋友", "员工", "学生", "家属"]),
            city=c(["杭州", "湖州", "德清", "宁波", "义乌"]),
            city_en=c(["Hangzhou", "Huzhou", "Ningbo", "Yiwu"]),
            k=c(["两", "三", "5", "10"]),
            t=c(["L", "X1", "X2", "Z", "S1", "student", "work", "tourist"]),
        )
    raise ValueError(kind)


NEAR_KINDS = (
    "fiction",
    "others",
    "past",
    "hypothetical",
    "negation",
    "pet",
    "gc_question",
    "trip",
    "ordinary",
    "foreign_stay",
)


def _key(text: str) -> str:
    """Sentences compared as the detector reads them: simplified script, no punctuation."""
    from bot.text import normalize_with_map

    return re.sub(r"[\s，。！？,.!?、：:；;]", "", normalize_with_map(text)[0])


def _held_out_texts(paths: Iterable[Path]) -> set[str]:
    from scripts.eval import parse_emergency_set

    out: set[str] = set()
    for path in paths:
        positives, near = parse_emergency_set(yaml.safe_load(path.read_text(encoding="utf-8")))
        out |= {_key(t) for t, _ in positives} | {_key(t) for t in near}
    return out


def build(seed: int = SEED) -> list[dict[str, str]]:
    import opencc

    s2t = opencc.OpenCC("s2t").convert
    rnd = random.Random(seed)
    held = _held_out_texts(HELD_OUT)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []

    def add(text: str, label: str, why: str | None = None) -> bool:
        text = re.sub(r"\s+", " ", text).strip()
        key = _key(text)
        if not text or key in seen or key in held:
            return False
        seen.add(key)
        rows.append({"text": text, "label": label, **({"why": why} if why else {})})
        return True

    for category in CATEGORIES:
        made = tries = 0
        while made < PER_CATEGORY and tries < PER_CATEGORY * 20:
            tries += 1
            core = _english(category, rnd) if rnd.random() < 0.12 else _core(category, rnd)
            made += add(_dress(core, rnd, s2t), category)
    for kind in NEAR_KINDS:
        made = tries = 0
        while made < PER_NEAR_KIND and tries < PER_NEAR_KIND * 30:
            tries += 1
            text = _near(kind, rnd)
            if rnd.random() < 0.1:
                text = s2t(text)
            made += add(text, "none", kind)
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Training sentences for the learned emergency detector (bot/emergency_learned.py).\n"
        "# GENERATED by `python -m scripts.make_emergency_data` from hand-written parts; edit the\n"
        "# script, not this file. label: one of the nine categories, or none (a near miss; `why`\n"
        "# names its kind). Never overlaps tests/data/emergency_*.yml (checked by a test).\n"
    )
    body = yaml.safe_dump(
        {"version": 1, "examples": rows}, allow_unicode=True, sort_keys=False, width=200
    )
    OUT.write_text(header + body, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} sentences")


if __name__ == "__main__":
    main()
