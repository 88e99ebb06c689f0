// Package web serves the demo pages and the JavaScript SDK from files
// embedded in the binary (embed.FS; no build step):
//
//	/                 viewer page: join a room, chat, danmaku, viewer count,
//	                  "N messages skipped" markers
//	/admin            admin console: system notices, mute/ban/kick, live
//	                  room stats from the admin API
//	/sdk/roomcast.js  the JavaScript SDK (one ES module, JSON frames)
//	/static/...       the pages' scripts and styles
//	/demo/token       mints short-lived demo tokens; registered only when
//	                  Deps.Demo is set (a server on the public development
//	                  secret), so it cannot exist on a real deployment
//
// Concurrency: a Handler is safe for concurrent use, starts no goroutines
// and needs no Close.
package web
