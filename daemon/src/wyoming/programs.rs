//! What the Wyoming server offers, as `describe` answers it: every speech-to-text plugin is
//! an ASR program with its model. The live role's recogniser comes first (Wyoming clients
//! use the first program unless they choose), and it streams: its words go out as they
//! become final. The others read an utterance whole once it ends.

use serde_json::{Value, json};

use crate::api::AppState;
use crate::config::Config;

/// Languages of a recogniser that declares none (it takes any): the ones Whisper was trained
/// on, as Wyoming clients list a program only under a language it names.
const WHISPER_LANGUAGES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi", "vi", "he", "uk", "el",
    "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az",
    "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af",
    "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as",
    "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
];
/// Who made the programs, for clients that show it.
const ATTRIBUTION: (&str, &str) = ("Scribe", "https://github.com/scribe-daemon/scribe");

/// One ASR program: a speech-to-text plugin.
#[derive(Debug, Clone)]
pub struct Program {
    /// The plugin's id, the program's name.
    pub plugin: String,
    description: String,
    version: String,
    /// The model as configured, or the plugin's id.
    pub model: String,
    languages: Vec<String>,
    /// The live role's recogniser: words stream as they become final.
    pub streaming: bool,
}

/// The programs, the live role's first.
pub fn list(state: &AppState, config: &Config) -> Vec<Program> {
    let live = state.live.provider().map(|choice| choice.plugin.clone());
    let batch = state.files.as_ref().map(|files| files.plugins().0).unwrap_or_default();
    let ids = live.iter().cloned().chain(batch.into_iter().filter(|id| Some(id) != live.as_ref()));
    ids.filter_map(|id| {
        let entry = state.registry.get(&id)?;
        let description = entry.description.as_ref()?;
        let plugin = config.plugins.get(&id);
        let setting = plugin.and_then(|p| p.settings.get("model")).and_then(|m| m.as_str()).map(String::from);
        let model = plugin.and_then(|p| p.model.clone()).or(setting).unwrap_or_else(|| id.clone());
        let declared = &description.languages;
        let languages = match (declared.is_empty(), model.ends_with(".en")) {
            (false, _) => declared.clone(),
            (true, true) => vec!["en".to_string()],
            (true, false) => WHISPER_LANGUAGES.iter().map(|l| l.to_string()).collect(),
        };
        Some(Program {
            streaming: Some(&id) == live.as_ref(),
            description: description.name.clone(),
            version: description.version.clone(),
            plugin: id,
            model,
            languages,
        })
    })
    .collect()
}

/// The program a client asked for by program or model name; the first when it named none.
pub fn choose<'a>(programs: &'a [Program], name: Option<&str>) -> Result<&'a Program, String> {
    match name {
        None => programs.first().ok_or_else(|| "no speech-to-text plugin is loaded".to_string()),
        Some(name) => programs.iter().find(|p| p.plugin == name || p.model == name).ok_or_else(|| {
            let known: Vec<&str> = programs.iter().map(|p| p.plugin.as_str()).collect();
            format!("no program or model {name:?} here; these are: {}", known.join(", "))
        }),
    }
}

/// The `info` event's data.
pub fn info(programs: &[Program]) -> Value {
    let attribution = json!({"name": ATTRIBUTION.0, "url": ATTRIBUTION.1});
    let asr: Vec<Value> = programs
        .iter()
        .map(|p| {
            json!({
                "name": p.plugin,
                "attribution": attribution,
                "installed": true,
                "description": p.description,
                "version": p.version,
                "models": [{
                    "name": p.model,
                    "attribution": attribution,
                    "installed": true,
                    "description": format!("{} with {}", p.description, p.model),
                    "version": p.version,
                    "languages": p.languages,
                }],
                "supports_transcript_streaming": p.streaming,
                "requires_external_vad": true,
            })
        })
        .collect();
    json!({"asr": asr, "tts": [], "handle": [], "intent": [], "wake": [], "mic": [], "snd": []})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(plugin: &str, model: &str, streaming: bool) -> Program {
        Program { plugin: plugin.into(), description: plugin.into(), version: "1".into(), model: model.into(), languages: vec!["en".into()], streaming }
    }

    #[test]
    fn a_client_names_a_program_or_its_model() {
        let programs = [program("whisper-live", "tiny.en", true), program("whisper-local", "base", false)];
        assert_eq!(choose(&programs, None).map(|p| p.plugin.as_str()), Ok("whisper-live"));
        assert_eq!(choose(&programs, Some("base")).map(|p| p.plugin.as_str()), Ok("whisper-local"));
        assert_eq!(choose(&programs, Some("whisper-local")).map(|p| p.plugin.as_str()), Ok("whisper-local"));
        let unknown = choose(&programs, Some("nova-3")).expect_err("unknown");
        assert!(unknown.contains("whisper-live, whisper-local"), "{unknown}");
        assert!(choose(&[], None).is_err());
        let info = info(&programs);
        assert_eq!(info["asr"][0]["supports_transcript_streaming"], true);
        assert_eq!(info["asr"][1]["models"][0]["name"], "base");
    }
}
