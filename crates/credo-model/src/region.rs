//! Provinces by the first two digits of a GB/T 2260 region code: what the court list
//! publishes instead of an address.

/// (code, Chinese name, English name).
pub const PROVINCES: &[(u32, &str, &str)] = &[
    (11, "北京市", "Beijing"),
    (12, "天津市", "Tianjin"),
    (13, "河北省", "Hebei"),
    (14, "山西省", "Shanxi"),
    (15, "内蒙古自治区", "Inner Mongolia"),
    (21, "辽宁省", "Liaoning"),
    (22, "吉林省", "Jilin"),
    (23, "黑龙江省", "Heilongjiang"),
    (31, "上海市", "Shanghai"),
    (32, "江苏省", "Jiangsu"),
    (33, "浙江省", "Zhejiang"),
    (34, "安徽省", "Anhui"),
    (35, "福建省", "Fujian"),
    (36, "江西省", "Jiangxi"),
    (37, "山东省", "Shandong"),
    (41, "河南省", "Henan"),
    (42, "湖北省", "Hubei"),
    (43, "湖南省", "Hunan"),
    (44, "广东省", "Guangdong"),
    (45, "广西壮族自治区", "Guangxi"),
    (46, "海南省", "Hainan"),
    (50, "重庆市", "Chongqing"),
    (51, "四川省", "Sichuan"),
    (52, "贵州省", "Guizhou"),
    (53, "云南省", "Yunnan"),
    (54, "西藏自治区", "Tibet"),
    (61, "陕西省", "Shaanxi"),
    (62, "甘肃省", "Gansu"),
    (63, "青海省", "Qinghai"),
    (64, "宁夏回族自治区", "Ningxia"),
    (65, "新疆维吾尔自治区", "Xinjiang"),
    (71, "台湾省", "Taiwan"),
    (81, "香港特别行政区", "Hong Kong"),
    (82, "澳门特别行政区", "Macao"),
];

/// The province of a six-digit region code.
pub fn province(region: u32) -> Option<(u32, &'static str, &'static str)> {
    let code = region / 10_000;
    PROVINCES.iter().copied().find(|p| p.0 == code)
}

/// Whether `query` names the province of `region`: its two-digit code, its Chinese name
/// with or without the suffix (北京 or 北京市), or its English name in any case.
pub fn province_matches(region: u32, query: &str) -> bool {
    let q = query.trim();
    province(region).is_some_and(|(code, zh, en)| {
        q == code.to_string()
            || q == zh
            || (!q.is_empty() && zh.starts_with(q) && q.chars().count() >= 2)
            || q.eq_ignore_ascii_case(en)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provinces_by_code_and_name() {
        assert_eq!(province(110105).map(|p| p.1), Some("北京市"));
        assert_eq!(province(440305).map(|p| p.2), Some("Guangdong"));
        assert_eq!(province(990000), None);
        assert!(province_matches(110105, "北京"));
        assert!(province_matches(110105, "北京市"));
        assert!(province_matches(110105, "beijing"));
        assert!(province_matches(110105, "11"));
        assert!(!province_matches(110105, "上海"));
        assert!(!province_matches(110105, "北"));
        assert!(!province_matches(110105, ""));
    }
}
