//! Layout-wide settings: `budget`, `guard`, `align`, `pressure`.

use super::*;

pub(super) fn check_setting(setting: SettingAst, settings: &mut Settings, errors: &mut Errors) {
    let keyword = setting.keyword().clone();
    let duplicate = match &setting {
        SettingAst::Budget { .. } => std::mem::replace(&mut settings.budget_written, true),
        SettingAst::Guard { .. } => settings.guard.is_some(),
        SettingAst::Align { .. } => settings.align.is_some(),
        SettingAst::Pressure { .. } => settings.pressure.is_some(),
    };
    if duplicate {
        errors.error(
            keyword.span(),
            format!("duplicate `{keyword}` setting; keep one"),
        );
        return;
    }
    match setting {
        SettingAst::Budget { keyword, size } => {
            if let Some(size) = check_size(&size, false, "a budget", errors) {
                settings.budget = Some((keyword, size));
            }
        }
        SettingAst::Guard { size, .. } => {
            settings.guard = Some(check_size(&size, true, "a guard", errors).unwrap_or(
                Size::Literal {
                    bytes: 0,
                    span: size.span(),
                },
            ));
        }
        SettingAst::Align { value, .. } => {
            settings.align = Some(check_align(&value, errors).unwrap_or(1));
        }
        SettingAst::Pressure { levels, .. } => {
            let mut thresholds = DEFAULT_PRESSURE;
            let mut given: [Option<Span>; 4] = [None; 4];
            for level in levels {
                let word = level.level.to_string();
                let Some(index) = LEVELS.iter().position(|l| *l == word) else {
                    errors.error(
                        level.level.span(),
                        format!(
                            "unknown pressure level `{word}`{}",
                            did_you_mean(&word, &LEVELS)
                        ),
                    );
                    continue;
                };
                if given[index].is_some() {
                    errors.error(
                        level.level.span(),
                        format!("duplicate pressure level `{word}`"),
                    );
                    continue;
                }
                match level.percent.base10_parse::<u8>() {
                    Ok(percent @ 1..=99) => {
                        thresholds[index] = percent;
                        given[index] = Some(level.percent.span());
                    }
                    _ => errors.error(
                        level.percent.span(),
                        format!(
                            "pressure thresholds are free-memory percentages from 1% to 99%, not `{}%`",
                            level.percent.base10_digits()
                        ),
                    ),
                }
            }
            for i in 0..3 {
                if thresholds[i + 1] >= thresholds[i] {
                    let describe = |j: usize| {
                        let default = if given[j].is_none() {
                            " by default"
                        } else {
                            ""
                        };
                        format!("`{}` is {}%{default}", LEVELS[j], thresholds[j])
                    };
                    let span = given[i + 1].or(given[i]).unwrap_or_else(|| keyword.span());
                    errors.error(
                        span,
                        format!(
                            "pressure thresholds must decrease strictly from `low` to `critical`: {} but {}",
                            describe(i),
                            describe(i + 1)
                        ),
                    );
                    break;
                }
            }
            settings.pressure = Some(thresholds);
        }
    }
}
