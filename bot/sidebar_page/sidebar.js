// The advisors' sidebar: registers with WeCom's JS-SDK (signatures from mombot), asks WeCom who
// the current chat is with, and shows her profile as mombot knows it.
(function () {
  "use strict";
  var app = document.getElementById("app");
  var csrf = "";
  var current = null;  // the external_userid of the chat

  function say(text) {
    app.innerHTML = "";
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    app.appendChild(p);
  }

  function api(path) {
    return fetch(path, { credentials: "same-origin" }).then(function (answer) {
      if (answer.status === 401) {
        location.replace("/sidebar");  // the session ended: log in again through WeCom
        throw new Error("no session");
      }
      return answer.json().then(function (body) {
        if (!answer.ok) {
          var error = new Error(body.error || String(answer.status));
          error.status = answer.status;
          throw error;
        }
        return body;
      });
    });
  }

  function post(action, fields) {
    var body = JSON.stringify(Object.assign({ external_userid: current }, fields));
    return fetch("/api/sidebar/" + action, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }
    }).then(function (answer) {
      if (answer.status === 401) {
        location.replace("/sidebar");
        throw new Error("登录已过期，正在重新登录…");
      }
      return answer.text().then(function (text) {
        var reply = {};
        try { reply = JSON.parse(text); } catch (e) { reply = { error: "操作失败（" + answer.status + "）" }; }
        if (!answer.ok) throw new Error(reply.error || String(answer.status));
        return reply;
      });
    });
  }

  function toast(text, bad) {
    var note = el("div", "toast" + (bad ? " bad" : ""), text);
    document.body.appendChild(note);
    setTimeout(function () { note.remove(); }, 2500);
  }

  function button(label, onClick, className) {
    var b = el("button", className || "", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function act(action, fields, done) {
    post(action, fields).then(function (her) { render(her); toast(done); })
      .catch(function (error) { toast(error.message, true); });
  }

  function actions(her) {
    var box = card("跟进");
    var note = el("textarea");
    note.id = "note";
    note.placeholder = "跟进内容，例如：电话沟通了待产包";
    box.appendChild(note);
    var row = el("div", "row");
    row.appendChild(button("记录跟进", function () {
      act("follow_up", { note: note.value }, "已记录跟进");
    }, "primary"));
    row.appendChild(button("记一笔", function () {
      if (note.value.trim()) act("note", { note: note.value }, "已记下");
    }));
    box.appendChild(row);

    var funnel = el("div", "row");
    funnel.appendChild(button("有意向", function () {
      act("status", { status: "有意向", note: note.value }, "已标为有意向");
    }));
    var amount = el("input");
    amount.id = "amount";
    amount.placeholder = "签约金额";
    amount.inputMode = "decimal";
    funnel.appendChild(amount);
    funnel.appendChild(button("已签约", function () {
      act("status", { status: "已签约", amount: amount.value, note: note.value }, "已标为已签约");
    }));
    box.appendChild(funnel);
    var lost = el("div", "row");
    var reason = el("select");
    reason.id = "reason";
    her.lost_reasons.forEach(function (r) { var o = el("option", "", r); o.value = r; reason.appendChild(o); });
    lost.appendChild(reason);
    lost.appendChild(button("已流失", function () {
      act("status", { status: "已流失", reason: reason.value, note: note.value }, "已标为已流失");
    }, "danger"));
    box.appendChild(lost);

    var dates = el("div", "row");
    var when = el("input");
    when.id = "when";
    when.placeholder = "日期或她的原话，如 预产期3月15号";
    dates.appendChild(when);
    dates.appendChild(button("改预产期", function () {
      act("dates", { due_date: when.value }, "已更新预产期");
    }));
    dates.appendChild(button("改宝宝生日", function () {
      act("dates", { baby_birthday: when.value }, "已更新宝宝生日");
    }));
    box.appendChild(dates);
  }

  function editTags(box, her) {
    api("/api/sidebar/tags").then(function (offered) {
      box.innerHTML = "";
      box.appendChild(el("h2", "", "编辑标签（点选后保存）"));
      var chosen = {};
      offered.groups.forEach(function (group) {
        box.appendChild(el("div", "sub", group.group));
        var row = el("div", "tags");
        group.tags.forEach(function (tag) {
          var had = her.tags.indexOf(tag.name) >= 0;
          chosen[tag.id] = { had: had, on: had };
          var chip = el("span", had ? "on" : "", tag.name);
          chip.addEventListener("click", function () {
            chosen[tag.id].on = !chosen[tag.id].on;
            chip.className = chosen[tag.id].on ? "on" : "";
          });
          row.appendChild(chip);
        });
        box.appendChild(row);
      });
      box.appendChild(button("保存标签", function () {
        var add = [], remove = [];
        Object.keys(chosen).forEach(function (id) {
          if (chosen[id].on && !chosen[id].had) add.push(id);
          if (!chosen[id].on && chosen[id].had) remove.push(id);
        });
        if (add.length || remove.length) act("tags", { add: add, remove: remove }, "标签已更新");
        else render(her);
      }, "primary"));
    }).catch(function (error) { toast(error.message, true); });
  }

  function scriptsCard(her) {
    if (!her.scripts.length) return;
    var box = card("话术（点一下放入聊天输入框）");
    var list = el("ul", "scripts");
    her.scripts.forEach(function (script) {
      var li = el("li");
      li.appendChild(el("strong", "", script.title));
      li.appendChild(el("div", "", script.text));
      li.addEventListener("click", function () {
        ww.sendChatMessage({ msgtype: "text", enterChat: true, text: { content: script.text } })
          .then(function () { return post("script", { script_id: script.id }); })
          .then(function () { toast("已放入输入框"); })
          .catch(function (error) { toast(error.message || "发送失败", true); });
      });
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function card(title) {
    var box = el("section", "card");
    if (title) box.appendChild(el("h2", "", title));
    app.appendChild(box);
    return box;
  }

  function day(iso) { return iso ? iso.slice(0, 10) : ""; }
  function minute(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }

  function render(her) {
    app.innerHTML = "";
    current = her.external_userid;
    var top = card();
    var who = el("div", "who");
    if (her.avatar) { var img = el("img"); img.src = her.avatar; img.alt = ""; who.appendChild(img); }
    var names = el("div");
    var h1 = el("h1", "", her.name || "未命名客户");
    h1.appendChild(el("span", "badge", her.status));
    if (her.hot) h1.appendChild(el("span", "badge hot", "高意向"));
    names.appendChild(h1);
    names.appendChild(el("div", "sub", [her.phone, her.channel_name || her.channel, her.source]
      .filter(Boolean).join(" · ")));
    who.appendChild(names);
    top.appendChild(who);
    var masked = her.masked || [];
    if (masked.length) {
      var hidden = { phone: "完整电话", city: "城市", orders: "订单和金额", notes: "跟进备注" };
      top.appendChild(el("div", "sub masked", masked.map(function (f) { return hidden[f] || f; })
        .join("、") + "仅她的负责顾问和店长可见"));
    }

    var now = card("孕育阶段");
    now.appendChild(el("div", "stage", her.stage
      ? her.stage + (her.how_far ? " · " + her.how_far : "")
      : "还不知道她的预产期或宝宝生日"));
    var facts = el("dl");
    [["预产期", her.due_date], ["宝宝生日", her.baby_birthday], ["顾问", her.owner_name || her.owner],
     ["城市", her.city], ["添加", day(her.added_at)], ["价值分层", her.tier]].forEach(function (pair) {
      if (!pair[1]) return;
      facts.appendChild(el("dt", "", pair[0]));
      facts.appendChild(el("dd", "", pair[1]));
    });
    now.appendChild(facts);

    var tags = card("标签");
    var row = el("div", "tags");
    her.tags.forEach(function (name) { row.appendChild(el("span", "", name)); });
    tags.appendChild(row);
    if (her.wecom_customer && her.may_edit) {
      tags.appendChild(button("编辑标签", function () { editTags(tags, her); }));
    }

    if (her.sla) {
      var left = Math.round((new Date(her.sla.due_at) - new Date(her.now)) / 60000);
      var sla = card("跟进时限");
      sla.appendChild(el("div", left > 0 ? "" : "late", left > 0
        ? "还剩 " + (left >= 60 ? Math.floor(left / 60) + " 小时 " : "") + (left % 60) + " 分钟（"
          + minute(her.sla.due_at) + (her.sla.step === "escalate" ? " 上报主管）" : " 提醒）")
        : "已超时，请尽快跟进"));
    }
    if (her.may_edit) {
      actions(her);
    } else {
      card("跟进").appendChild(el("div", "sub", "她由" + (her.owner_name || her.owner || "其他顾问")
        + "负责：你可以查看她的资料、使用话术；跟进和修改请联系负责顾问。"));
    }
    scriptsCard(her);

    var score = card("线索评分 " + her.score);
    var items = el("ul");
    her.score_breakdown.forEach(function (item) {
      var li = el("li", "", item.rule);
      li.insertBefore(el("span", "when", day(item.at)), li.firstChild);
      li.appendChild(el("span", "pts" + (item.points < 0 ? " neg" : ""),
        (item.points < 0 ? "" : "+") + item.points));
      items.appendChild(li);
    });
    score.appendChild(items);

    if (her.orders.length) {
      var orders = card("最近订单");
      var list = el("ul");
      her.orders.forEach(function (order) {
        var li = el("li", "", (order.items || order.order_id) + "  ¥" + order.amount.toFixed(2));
        li.insertBefore(el("span", "when", day(order.ordered_at)), li.firstChild);
        list.appendChild(li);
      });
      orders.appendChild(list);
    }

    if (her.sop_planned.length || her.sop_done.length) {
      var plan = card("SOP");
      var planned = el("ul");
      her.sop_planned.forEach(function (t) {
        var li = el("li", "", "待发 · " + t.sop);
        li.insertBefore(el("span", "when", minute(t.due_at)), li.firstChild);
        planned.appendChild(li);
      });
      var labels = { sent: "已发", skipped: "跳过", failed: "失败" };
      her.sop_done.forEach(function (t) {
        var li = el("li", "", (labels[t.status] || t.status) + " · " + t.sop);
        li.insertBefore(el("span", "when", minute(t.at)), li.firstChild);
        planned.appendChild(li);
      });
      plan.appendChild(planned);
    }

    if (her.bot_messages.length) {
      var bot = card("她和小助手的对话");
      var talk = el("ul", "talk");
      var speakers = { customer: "她", bot: "小助手", servicer: "客服" };
      her.bot_messages.forEach(function (m) {
        var li = el("li", m.from, "");
        li.appendChild(el("span", "when", minute(m.at) + " " + (speakers[m.from] || m.from)));
        li.appendChild(el("span", "said", m.text));
        talk.appendChild(li);
      });
      bot.appendChild(talk);
    }

    var steps = card("线索记录");
    var history = el("ul");
    her.history.slice().reverse().forEach(function (step) {
      var text = (step.from && step.from !== step.to ? step.from + " → " : "") + step.to;
      var extra = [step.reason, step.note].filter(Boolean).join("；");
      var li = el("li", "", text + (extra ? "（" + extra + "）" : ""));
      li.insertBefore(el("span", "when", minute(step.at)), li.firstChild);
      history.appendChild(li);
    });
    steps.appendChild(history);

    if (her.follow_ups.length) {
      var follows = card("跟进记录");
      var notes = el("ul");
      her.follow_ups.forEach(function (f) {
        var li = el("li", "", f.note || ((her.masked || []).indexOf("notes") >= 0 ? "（备注不可见）" : "（无备注）"));
        li.insertBefore(el("span", "when", minute(f.at)), li.firstChild);
        notes.appendChild(li);
      });
      follows.appendChild(notes);
    }
  }

  function renderGroup(group) {
    app.innerHTML = "";
    var top = card();
    top.appendChild(el("h1", "", group.name || "客户群"));
    top.appendChild(el("div", "sub", group.customers + " 位客户"));
    var stages = card("孕育阶段分布");
    var facts = el("dl");
    Object.keys(group.stages).forEach(function (stage) {
      facts.appendChild(el("dt", "", stage));
      facts.appendChild(el("dd", "", group.stages[stage] + " 位"));
    });
    stages.appendChild(facts);
    function people(title, list) {
      if (!list.length) return;
      var box = card(title);
      var ul = el("ul");
      list.forEach(function (m) {
        var li = el("li", "", (m.name || "未命名客户") + (m.stage ? " · " + m.stage : "")
          + (m.how_far ? "（" + m.how_far + "）" : ""));
        li.insertBefore(el("span", "when", day(m.joined_at)), li.firstChild);
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    people("本周新人", group.newcomers);
    if (group.planned.length) {
      var plan = card("群 SOP 待发");
      var ul = el("ul");
      group.planned.forEach(function (t) {
        var li = el("li", "", t.sop);
        li.insertBefore(el("span", "when", minute(t.due_at)), li.firstChild);
        ul.appendChild(li);
      });
      plan.appendChild(ul);
    }
    people("全部客户", group.members);
  }

  function start() {
    if (typeof ww === "undefined") { say("请在企业微信里打开侧边栏。"); return; }
    var page = location.href.split("#")[0];
    api("/api/sidebar/session").then(function (session) {
      csrf = session.csrf;
      return api("/api/sidebar/jssdk?url=" + encodeURIComponent(page));
    }).then(function (signed) {
      ww.register({
        corpId: signed.corpId,
        agentId: signed.agentId,
        jsApiList: ["getContext", "getCurExternalContact", "getCurExternalChat", "sendChatMessage"],
        getConfigSignature: function () { return signed.corp; },
        getAgentConfigSignature: function () { return signed.agent; }
      });
      return ww.getContext();
    }).then(function (context) {
      if (context.entry === "group_chat_tools") {
        return ww.getCurExternalChat().then(function (chat) {
          return api("/api/sidebar/group?chat_id=" + encodeURIComponent(chat.chatId));
        }).then(renderGroup);
      }
      return ww.getCurExternalContact().then(function (current) {
        return api("/api/sidebar/contact?external_userid=" + encodeURIComponent(current.userId));
      }).then(render);
    }).catch(function (error) {
      if (error.message === "no session") return;
      if (error.status === 403) { say("不是你负责的客户或客户群，无法查看。"); return; }
      if (error.status === 404) { say("没有找到这位客户。"); return; }
      say(error.status ? "读取客户信息失败，请稍后重试。" : (error.message || "读取失败，请重试。"));
    });
  }

  start();
})();
