//! Chinese names, company names and addresses.

use rand::Rng;

/// The most common surnames, most common first (they are drawn with falling weights).
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金",
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "建", "国", "文", "辉", "鑫", "宇", "浩", "晨",
    "欣", "怡", "佳", "子", "轩", "涵", "梓", "博", "思", "雨", "嘉", "俊", "婷", "雪", "琳", "晓",
    "红", "海", "波", "斌", "飞", "玲", "凯", "亮", "志", "新", "春", "红",
];

const COMPANY_WORDS: &[&str] = &[
    "华信", "恒达", "鼎盛", "宏图", "瑞丰", "金泰", "中联", "新源", "永安", "德茂", "天成", "博远",
    "正元", "盛世", "安康",
];

const COMPANY_KINDS: &[&str] = &[
    "科技有限公司",
    "贸易有限公司",
    "建筑工程有限公司",
    "物流有限公司",
    "餐饮管理有限公司",
    "实业有限公司",
    "网络科技有限公司",
];

const STREETS: &[&str] = &[
    "人民", "解放", "中山", "建设", "和平", "长江", "黄河", "新华", "胜利", "文化", "朝阳", "光明",
    "东风", "幸福", "青年",
];

fn pick<'a>(r: &mut impl Rng, xs: &[&'a str]) -> &'a str {
    xs[r.random_range(0..xs.len())]
}

pub fn person(r: &mut impl Rng) -> String {
    // Zipf-like: common surnames much more often.
    let u: f64 = r.random();
    let i = ((SURNAMES.len() as f64) * u * u) as usize;
    let mut name = SURNAMES[i.min(SURNAMES.len() - 1)].to_string();
    name.push_str(pick(r, GIVEN));
    if r.random::<f64>() < 0.6 {
        name.push_str(pick(r, GIVEN));
    }
    name
}

pub fn company(r: &mut impl Rng, city: &str) -> String {
    format!("{city}{}{}", pick(r, COMPANY_WORDS), pick(r, COMPANY_KINDS))
}

pub fn address(r: &mut impl Rng, city: &str) -> String {
    format!(
        "{city}市{}路{}号{}单元{}室",
        pick(r, STREETS),
        r.random_range(1..400),
        r.random_range(1..8),
        r.random_range(101..2400)
    )
}
