"""WeCom's client JS-SDK (`ww`) as a page meets it inside WeCom, for a browser that is not WeCom
(the sidebar's browser tests, the demo): it says which chat the page is open in, keeps what
the page registered, the signatures it handed over and what it put into the chat input
(`window.__wwSeen`), and cannot be replaced by the page's own copy of the SDK."""

from __future__ import annotations

import json

STAND_IN = """
(function () {
  var CHAT = %s;
  var seen = {calls: [], signatures: {}};
  var ww = {
    register: function (options) {
      seen.calls.push(["register", options.corpId, options.agentId, options.jsApiList]);
      seen.options = options;
    },
    getContext: function () { return Promise.resolve({entry: CHAT.entry}); },
    getCurExternalChat: function () { return Promise.resolve({chatId: CHAT.chat_id}); },
    getCurExternalContact: function () {
      return Promise.all([seen.options.getConfigSignature(),
                          seen.options.getAgentConfigSignature()]).then(function (both) {
        seen.signatures = {corp: both[0], agent: both[1]};
        return {userId: CHAT.external_userid};
      });
    },
    sendChatMessage: function (message) {
      seen.calls.push(["sendChatMessage", message]);
      return Promise.resolve({});
    }
  };
  window.__wwSeen = seen;
  Object.defineProperty(window, "ww", {get: function () { return ww; }, set: function () {}});
})();
"""


def install(browser, **chat: str) -> None:
    """The stand-in for every page a Chromium driven by selenium opens from now on, in the
    chat described: entry ("single_chat_tools" or "group_chat_tools"), external_userid or
    chat_id."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": STAND_IN % json.dumps(chat)})  # fmt: skip
