// The live chat: sends the rater's message to /api/live/<id>/turn and shows both replies as they
// stream in (Server-Sent Events over a streamed fetch response: delta/replace/reply/failed per side
// A or B, then done once both are stored). Text is set with textContent, never as HTML. Without
// JavaScript the same form posts to /live/<id>/turn and the page comes back with both replies.
(function () {
  "use strict";
  var form = document.querySelector("form.live-message");
  if (!form || !window.fetch || !window.TextDecoder) return;
  var box = form.querySelector("textarea[name=message]");
  var button = form.querySelector("button[type=submit]");
  var status = form.querySelector(".live-status");
  var turnsLeft = form.querySelector(".turns-left");
  var endButton = document.querySelector("form.live-end button");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var maxTurns = form.dataset.maxTurns;

  function bubble(side, role, text) {
    var article = document.querySelector(".transcript[data-side='" + side + "']");
    var turn = document.createElement("div");
    turn.className = "turn " + role;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "client" ? "你（来访者）" : "咨询师";
    var p = document.createElement("p");
    p.textContent = text;
    turn.appendChild(who);
    turn.appendChild(p);
    article.appendChild(turn);
    return p;
  }

  function busy(on, message) {
    box.disabled = on;
    button.disabled = on;
    if (endButton) endButton.disabled = on;
    status.textContent = message || "";
  }

  function handle(event, data, replies) {
    var p = data.side ? replies[data.side] : null;
    if (event === "delta" || event === "replace") {
      p.textContent = event === "delta" ? p.textContent + data.text : data.text;
      p.dataset.chunks = String(Number(p.dataset.chunks || 0) + 1);
    } else if (event === "reply") {
      p.textContent = data.text;
      p.parentNode.classList.remove("pending");
    } else if (event === "failed") {
      p.textContent = data.message;
      p.setAttribute("role", "alert");
      p.parentNode.classList.remove("pending");
      p.parentNode.classList.add("failed");
    } else if (event === "done") {
      if (data.ended) { window.location.reload(); return; }
      turnsLeft.textContent = "还可以说 " + data.turns_left + " 句（共 " + maxTurns + " 句）";
      busy(false, "两边都已回复并保存。");
      box.focus();
    } else if (event === "error") {
      busy(false, data.message);
    }
  }

  function read(response, replies) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var blocks = buffer.split("\n\n");
        buffer = blocks.pop();
        blocks.forEach(function (block) {
          var event = "message", data = "";
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) event = line.slice(7);
            else if (line.indexOf("data: ") === 0) data += line.slice(6);
          });
          if (data) handle(event, JSON.parse(data), replies);
        });
        return pump();
      });
    }
    return pump();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = box.value.trim();
    if (!text) return;
    busy(true, "两位咨询师正在回复……");
    var replies = {};
    ["A", "B"].forEach(function (side) {
      bubble(side, "client", text);
      replies[side] = bubble(side, "counsellor", "");
      replies[side].parentNode.classList.add("pending");
    });
    box.value = "";
    fetch(form.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ message: text })
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (body) {
          var why = typeof body.detail === "string" ? body.detail : String(response.status);
          busy(false, "没有发送成功：" + why + "（请刷新页面）");
        });
      }
      return read(response, replies);
    }).catch(function () {
      busy(false, "连接中断了。已发送的内容会保存，请刷新页面查看。");
    });
  });
})();
