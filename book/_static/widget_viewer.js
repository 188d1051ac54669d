// A kernel-free viewer for the ipywidgets a page embeds (loaded only on pages with widgets; see
// nb_ipywidgets_js in _config.yml). The course's interactive figures (course_lib.widgets) are
// precomputed frames in a Stack, chosen by a slider, buttons or a dropdown that a jslink ties to
// the Stack. Jupyter's own widget manager (4.4 MB unminified, plus require.js) would run them; this
// file renders the few widget kinds they use (boxes, HTML, images, stacks, selection controls,
// links) from the widget state myst-nb writes into the page, in a few kilobytes. In Jupyter and
// Colab the same notebook uses the real ipywidgets, unchanged.
(() => {
  "use strict";
  const REF = "IPY_MODEL_";

  class Model {
    constructor(id, spec) {
      this.id = id;
      this.name = spec.model_name;
      this.state = Object.assign({}, spec.state);
      this.listeners = [];
      for (const buffer of spec.buffers || []) {      // binary values (an image's bytes), base64
        let obj = this.state;
        for (const key of buffer.path.slice(0, -1)) obj = obj[key];
        obj[buffer.path[buffer.path.length - 1]] = { base64: buffer.data };
      }
    }
    get(key) { return this.state[key]; }
    set(key, value) {
      if (this.state[key] === value) return;
      this.state[key] = value;
      this.listeners.forEach((listener) => listener(key, value));
    }
    on(listener) { this.listeners.push(listener); }
  }

  function loadModels() {
    const models = new Map();
    document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').forEach((script) => {
      const state = JSON.parse(script.textContent).state || {};
      for (const [id, spec] of Object.entries(state)) models.set(id, new Model(id, spec));
    });
    return models;
  }

  const element = (tag, className, attrs) => {
    const el = document.createElement(tag);
    if (className) el.className = className;
    Object.entries(attrs || {}).forEach(([k, v]) => el.setAttribute(k, v));
    return el;
  };

  // The layout traits a frame or a control row uses; "None" (null) means the browser's default.
  const LAYOUT = ["width", "max_width", "min_width", "height", "margin", "padding", "flex_flow", "flex",
    "align_items", "justify_content", "display", "visibility"];
  function applyLayout(el, model, models) {
    const ref = model.get("layout");
    const layout = typeof ref === "string" && models.get(ref.slice(REF.length));
    if (!layout) return;
    for (const trait of LAYOUT) {
      const value = layout.get(trait);
      if (value !== null && value !== undefined && value !== "") el.style.setProperty(trait.replace("_", "-"), value);
    }
    if (el.style.width) el.style.maxWidth = el.style.maxWidth || "100%";
  }

  // The options of a selection control, with their labels.
  const labels = (model) => model.get("_options_labels") || [];

  const VIEWS = {
    BoxModel: box, HBoxModel: box, VBoxModel: box, GridBoxModel: box,
    StackModel(model, render) {
      const el = element("div", "widget-container widget-stack");
      const children = (model.get("children") || []).map(render);
      children.forEach((child) => el.appendChild(child));
      const show = () => children.forEach((child, i) => { child.hidden = i !== model.get("selected_index"); });
      model.on((key) => key === "selected_index" && show());
      show();
      return el;
    },
    HTMLModel: html, HTMLMathModel: html,
    LabelModel(model) {
      const el = element("div", "widget-label");
      el.textContent = model.get("value") || "";
      return el;
    },
    ImageModel(model) {
      const value = model.get("value") || {};
      const format = model.get("format") || "png";
      const el = element("img", "widget-image", { alt: model.get("tooltip") || "", decoding: "async" });
      el.src = `data:image/${format === "svg" ? "svg+xml" : format};base64,${value.base64 || ""}`;
      for (const side of ["width", "height"]) if (model.get(side)) el.setAttribute(side, model.get(side));
      return el;
    },
    SelectionSliderModel(model) {
      const el = element("div", "widget-slider widget-hslider");
      const input = element("input", "widget-range", { type: "range", min: 0, max: Math.max(labels(model).length - 1, 0), step: 1 });
      const readout = element("output", "widget-readout");
      const show = () => { input.value = model.get("index"); readout.textContent = labels(model)[model.get("index")] ?? ""; };
      input.addEventListener("input", () => model.set("index", Number(input.value)));
      model.on((key) => key === "index" && show());
      show();
      el.append(input, readout);
      return el;
    },
    ToggleButtonsModel(model) {
      const el = element("div", "widget-toggle-buttons", { role: "group" });
      const buttons = labels(model).map((label, i) => {
        const button = element("button", "widget-toggle-button", { type: "button" });
        button.textContent = label;
        button.addEventListener("click", () => model.set("index", i));
        el.appendChild(button);
        return button;
      });
      const show = () => buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(i === model.get("index"))));
      model.on((key) => key === "index" && show());
      show();
      return el;
    },
    DropdownModel(model) {
      const el = element("div", "widget-dropdown");
      const select = element("select");
      labels(model).forEach((label, i) => {
        const option = element("option", "", { value: i });
        option.textContent = label;
        select.appendChild(option);
      });
      const show = () => { select.value = String(model.get("index")); };
      select.addEventListener("change", () => model.set("index", Number(select.value)));
      model.on((key) => key === "index" && show());
      show();
      el.appendChild(select);
      return el;
    },
  };

  function box(model, render) {
    const kind = model.name.replace("Model", "").toLowerCase();
    const el = element("div", `widget-container widget-box widget-${kind}`);
    const children = (model.get("children") || []).map(render);
    children.forEach((child, i) => {
      el.appendChild(child);
      // A control after its label (course_lib.widgets writes the label as an HTML widget) is named by it.
      const control = child.querySelector && child.querySelector("input, select, [role=group]");
      if (control && i > 0 && children[i - 1].classList.contains("widget-html")) {
        control.setAttribute("aria-label", children[i - 1].textContent.replace(/\u00a0/g, " ").trim());
      }
    });
    return el;
  }

  function html(model) {
    const el = element("div", "widget-html");
    const content = element("div", "widget-html-content");
    content.innerHTML = model.get("value") || "";
    model.on((key, value) => { if (key === "value") content.innerHTML = value; });
    el.appendChild(content);
    return el;
  }

  // jslink (LinkModel: both ways) and jsdlink (DirectionalLinkModel: source to target).
  function connect(models) {
    for (const model of models.values()) {
      if (model.name !== "LinkModel" && model.name !== "DirectionalLinkModel") continue;
      const [sourceRef, sourceKey] = model.get("source");
      const [targetRef, targetKey] = model.get("target");
      const source = models.get(sourceRef.slice(REF.length)), target = models.get(targetRef.slice(REF.length));
      if (!source || !target) continue;
      target.set(targetKey, source.get(sourceKey));
      source.on((key, value) => key === sourceKey && target.set(targetKey, value));
      if (model.name === "LinkModel") target.on((key, value) => key === targetKey && source.set(sourceKey, value));
    }
  }

  function start() {
    const models = loadModels();
    if (!models.size) return;
    const render = (ref) => {
      const model = models.get(String(ref).replace(REF, ""));
      const view = model && VIEWS[model.name];
      if (!view) {
        const el = element("div", "widget-unsupported");
        el.textContent = `(${model ? model.name.replace("Model", "") : "A widget"}: open this page in Jupyter or Colab to use it.)`;
        return el;
      }
      const el = view(model, render);
      applyLayout(el, model, models);
      return el;
    };
    connect(models);
    document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').forEach((script) => {
      const { model_id: id } = JSON.parse(script.textContent);
      const root = element("div", "jupyter-widgets widget-viewer");
      root.appendChild(render(id));
      script.replaceWith(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
