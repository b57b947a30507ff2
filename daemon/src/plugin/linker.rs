//! Links a world's imports to the host capabilities: for each interface the world imports,
//! the capability's `add_to_linker` with a projection of [`PluginState`] onto that
//! capability's view. A world gets exactly the interfaces it declares, so a component built
//! against one world cannot reach another world's capabilities.

use wasmtime::Engine;
use wasmtime::component::Linker;

use super::bindings::{diarizer, stt_batch, stt_batch_0_2, stt_live, store, store_0_3, summarizer};
use super::capabilities::audio::{AudioCapability, AudioView};
use super::capabilities::http::{HttpCapability, HttpView};
use super::capabilities::model::{ModelCapability, ModelView};
use super::capabilities::platform::{PlatformCapability, PlatformView};
use super::capabilities::postgres::{PostgresCapability, PostgresView};
use super::capabilities::progress::{ProgressCapability, ProgressView};
use super::capabilities::sqlite::{SqliteCapability, SqliteView};
use super::capabilities::websocket::{WsCapability, WsView};
use super::capabilities::work_progress::{WorkProgressCapability, WorkProgressView};
use super::manifest::World;
use super::state::PluginState;

fn platform(s: &mut PluginState) -> PlatformView<'_> {
    PlatformView { plugin: &s.services.id, settings: &s.services.settings }
}

fn http(s: &mut PluginState) -> HttpView<'_> {
    HttpView { shared: &s.services.http, state: &mut s.http, audio: s.audio.as_ref(), format: s.audio_format, table: &mut s.table, cpu: &s.cpu }
}

fn websocket(s: &mut PluginState) -> WsView<'_> {
    WsView { http: &s.services.http, state: &mut s.websockets, table: &mut s.table, cpu: &s.cpu }
}

fn audio(s: &mut PluginState) -> AudioView<'_> {
    AudioView { input: s.audio.as_ref(), cpu: &s.cpu }
}

fn model(s: &mut PluginState) -> ModelView<'_> {
    ModelView { model: s.services.model.as_ref(), cpu: &s.cpu }
}

fn progress(s: &mut PluginState) -> ProgressView<'_> {
    ProgressView { sink: s.progress.as_mut() }
}

fn work_progress(s: &mut PluginState) -> WorkProgressView<'_> {
    WorkProgressView { sink: s.work_progress.as_mut() }
}

fn sqlite(s: &mut PluginState) -> SqliteView<'_> {
    SqliteView { grants: &s.services.grants, db: s.services.sqlite.as_ref(), cpu: &s.cpu }
}

fn postgres(s: &mut PluginState) -> PostgresView<'_> {
    PostgresView { grants: &s.services.grants, db: s.services.postgres.as_ref(), cpu: &s.cpu }
}

/// A linker with WASI (nothing granted) and the capabilities `world` imports.
pub fn for_world(engine: &Engine, world: World) -> wasmtime::Result<Linker<PluginState>> {
    use store::scribe::plugin::{config, log, sqlite as sqlite_if, types};
    use stt_batch::scribe::plugin::{audio as audio_if, http as http_if, model as model_if};
    use stt_live::scribe::plugin::websocket as websocket_if;
    use diarizer::scribe::plugin0_2_0::work_progress as work_progress_if;
    use store_0_3::scribe::plugin0_3_0::postgres as postgres_if;
    use stt_batch_0_2::scribe::plugin0_2_0::upload as upload_if;
    use summarizer::scribe::plugin::progress as progress_if;

    let mut linker: Linker<PluginState> = Linker::new(engine);
    // WASI is linked with nothing granted so components from other toolchains, which import
    // it even when unused, still instantiate.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    types::add_to_linker::<_, PlatformCapability>(&mut linker, platform)?;
    log::add_to_linker::<_, PlatformCapability>(&mut linker, platform)?;
    config::add_to_linker::<_, PlatformCapability>(&mut linker, platform)?;
    match world {
        World::Store => {
            sqlite_if::add_to_linker::<_, SqliteCapability>(&mut linker, sqlite)?;
            postgres_if::add_to_linker::<_, PostgresCapability>(&mut linker, postgres)?;
        }
        World::SttBatch => {
            http_if::add_to_linker::<_, HttpCapability>(&mut linker, http)?;
            upload_if::add_to_linker::<_, HttpCapability>(&mut linker, http)?;
            audio_if::add_to_linker::<_, AudioCapability>(&mut linker, audio)?;
            model_if::add_to_linker::<_, ModelCapability>(&mut linker, model)?;
        }
        World::Summarizer => {
            http_if::add_to_linker::<_, HttpCapability>(&mut linker, http)?;
            progress_if::add_to_linker::<_, ProgressCapability>(&mut linker, progress)?;
        }
        World::SttLive => {
            websocket_if::add_to_linker::<_, WsCapability>(&mut linker, websocket)?;
            model_if::add_to_linker::<_, ModelCapability>(&mut linker, model)?;
        }
        World::Diarizer => {
            audio_if::add_to_linker::<_, AudioCapability>(&mut linker, audio)?;
            model_if::add_to_linker::<_, ModelCapability>(&mut linker, model)?;
            work_progress_if::add_to_linker::<_, WorkProgressCapability>(&mut linker, work_progress)?;
        }
    }
    Ok(linker)
}
