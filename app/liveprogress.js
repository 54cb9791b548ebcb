// The Train page's progress bar and figures while a run trains (app/livechart.py says why): plain DOM,
// built once and then only its texts change, so a browser does not restyle a dozen elements every second.
export default function (component) {
  const { parentElement, data } = component;
  const progress = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
  let root = parentElement.querySelector(".gan-live-progress");
  if (!root) {
    root = document.createElement("div"); root.className = "gan-live-progress";
    root.innerHTML = '<div class="gan-bar-text"></div><div class="gan-bar"><div></div></div><div class="gan-figures"></div>';
    parentElement.appendChild(root);
  }
  root.querySelector(".gan-bar-text").textContent = progress.text;
  root.querySelector(".gan-bar > div").style.width = `${Math.round(progress.fraction * 1000) / 10}%`;
  const figures = root.querySelector(".gan-figures");
  while (figures.children.length > progress.figures.length) figures.lastChild.remove();
  progress.figures.forEach(([label, value], k) => {
    let box = figures.children[k];
    if (!box) {
      box = document.createElement("div"); box.className = "gan-figure";
      box.innerHTML = '<div class="gan-label"></div><div class="gan-value"></div>'; figures.appendChild(box);
    }
    if (box.firstChild.textContent !== label) box.firstChild.textContent = label;
    if (box.lastChild.textContent !== value) box.lastChild.textContent = value;
    box.dataset.label = label; box.dataset.value = value;  // what a test reads
  });
}
