/* Communiqué dashboard charts, drawn with the vendored d3 (static/vendor/d3.min.js):
 *  - #network + #network-data: states as circles (area: meetings), pairs as lines (width: meetings
 *    together); each state links to its meetings, each line to the pair's timeline;
 *  - #timeline + #timeline-data: meetings over time, one row per level, colour by mode, hollow = planned;
 *    each dot links to the meeting's card on the same page.
 * The force layout runs to its end before anything is drawn (no animation) and d3's forces are
 * deterministic, so the same data gives the same picture. Every mark is a link: reachable by keyboard, with
 * an accessible name. */
(function () {
  "use strict";

  var MODE_COLOURS = { in_person: "#1f5fa8", phone: "#a34a00", video: "#1e7b34" };

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function drawNetwork(container, data) {
    var width = Math.max(300, container.clientWidth || 640);
    var height = Math.round(width < 500 ? width * 1.1 : Math.max(320, Math.min(560, width * 0.7)));
    var nodes = data.nodes.map(function (d) { return Object.assign({}, d); });
    var edges = data.edges.map(function (d) { return Object.assign({}, d); });
    var maxNode = d3.max(nodes, function (d) { return d.weight; }) || 1;
    var maxEdge = d3.max(edges, function (d) { return d.weight; }) || 1;
    var radius = d3.scaleSqrt().domain([0, maxNode]).range([5, width < 500 ? 20 : 28]);
    var stroke = d3.scaleSqrt().domain([1, Math.max(2, maxEdge)]).range([1.5, 12]);

    var simulation = d3.forceSimulation(nodes)
      .force("link", d3.forceLink(edges).id(function (d) { return d.id; })
        .distance(function (d) { return 70 + 60 / Math.sqrt(d.weight); }))
      .force("charge", d3.forceManyBody().strength(-380))
      .force("collide", d3.forceCollide(function (d) { return radius(d.weight) + 14; }))
      .force("x", d3.forceX(0).strength(0.06))
      .force("y", d3.forceY(0).strength(0.09))
      .stop();
    for (var i = 0; i < 400; i++) { simulation.tick(); }

    // Fit the layout into the box, keeping its proportions.
    var pad = 36;
    var x0 = d3.min(nodes, function (d) { return d.x - radius(d.weight); });
    var x1 = d3.max(nodes, function (d) { return d.x + radius(d.weight); });
    var y0 = d3.min(nodes, function (d) { return d.y - radius(d.weight); });
    var y1 = d3.max(nodes, function (d) { return d.y + radius(d.weight); });
    var k = Math.min((width - 2 * pad) / Math.max(1, x1 - x0), (height - 2 * pad) / Math.max(1, y1 - y0), 1.6);
    var dx = (width - k * (x1 - x0)) / 2 - k * x0;
    var dy = (height - k * (y1 - y0)) / 2 - k * y0;
    nodes.forEach(function (d) { d.px = k * d.x + dx; d.py = k * d.y + dy; });

    var svg = d3.select(container).append("svg")
      .attr("viewBox", [0, 0, width, height].join(" "))
      .attr("width", width)
      .attr("height", height)
      .attr("data-nodes", nodes.length)
      .attr("data-edges", edges.length);

    var edge = svg.append("g").attr("class", "edges").selectAll("a").data(edges).join("a")
      .attr("href", function (d) { return data.edge_href + encodeURIComponent(d.source.id + "," + d.target.id); })
      .attr("aria-label", function (d) {
        return d.source.id + "–" + d.target.id + ": " + plural(d.weight, "meeting") + " (timeline)";
      });
    edge.append("line").attr("class", "hit")
      .attr("x1", function (d) { return d.source.px; }).attr("y1", function (d) { return d.source.py; })
      .attr("x2", function (d) { return d.target.px; }).attr("y2", function (d) { return d.target.py; });
    edge.append("line").attr("class", "edge")
      .attr("data-pair", function (d) { return d.source.id + "-" + d.target.id; })
      .attr("data-weight", function (d) { return d.weight; })
      .attr("stroke-width", function (d) { return stroke(d.weight); })
      .attr("x1", function (d) { return d.source.px; }).attr("y1", function (d) { return d.source.py; })
      .attr("x2", function (d) { return d.target.px; }).attr("y2", function (d) { return d.target.py; });
    edge.append("title").text(function (d) {
      return d.source.name + " – " + d.target.name + ": " + plural(d.weight, "meeting");
    });
    if (edges.length <= 60) {
      edge.filter(function (d) { return d.weight > 1; }).append("text").attr("class", "edge-label")
        .attr("text-anchor", "middle").attr("dy", "-0.3em")
        .attr("x", function (d) { return (d.source.px + d.target.px) / 2; })
        .attr("y", function (d) { return (d.source.py + d.target.py) / 2; })
        .text(function (d) { return d.weight; });
    }

    var node = svg.append("g").attr("class", "nodes").selectAll("a").data(nodes).join("a")
      .attr("href", function (d) { return data.node_href + encodeURIComponent(d.id); })
      .attr("aria-label", function (d) { return d.name + ": " + plural(d.weight, "meeting"); })
      .append("g").attr("class", "node")
      .attr("data-state", function (d) { return d.id; })
      .attr("data-weight", function (d) { return d.weight; })
      .attr("transform", function (d) { return "translate(" + d.px + "," + d.py + ")"; });
    node.append("circle").attr("r", function (d) { return radius(d.weight); });
    node.append("text")
      .attr("x", function (d) { return radius(d.weight) + 3; })
      .attr("dy", "0.35em")
      .text(function (d) { return d.id; });
    node.append("title").text(function (d) { return d.name + ": " + plural(d.weight, "meeting"); });
    container.setAttribute("data-rendered", "true");
  }

  function drawTimeline(container, data) {
    var points = data.points || [];
    if (!points.length) { return; }
    var width = Math.max(300, container.clientWidth || 640);
    var narrow = width < 520;
    var labels = new Map(data.levels);
    var present = data.levels.map(function (l) { return l[0]; })
      .filter(function (key) { return points.some(function (p) { return p.level === key; }); });
    var margin = { top: 34, right: 18, bottom: 30, left: narrow ? 96 : 150 };
    var height = margin.top + margin.bottom + Math.max(1, present.length) * 38;
    var parse = d3.utcParse("%Y-%m-%d");
    points = points.map(function (p) { return Object.assign({ day: parse(p.date) }, p); })
      .filter(function (p) { return p.day; });
    var extent = d3.extent(points, function (p) { return p.day; });
    var span = Math.max(extent[1] - extent[0], 1000 * 86400 * 20);
    var x = d3.scaleUtc()
      .domain([new Date(+extent[0] - span * 0.06), new Date(+extent[1] + span * 0.06)])
      .range([margin.left, width - margin.right]);
    var y = d3.scalePoint().domain(present).range([margin.top, height - margin.bottom]).padding(0.5);

    var svg = d3.select(container).append("svg")
      .attr("viewBox", [0, 0, width, height].join(" "))
      .attr("width", width)
      .attr("height", height)
      .attr("data-points", points.length);
    svg.append("g").attr("class", "axis x-axis")
      .attr("transform", "translate(0," + (height - margin.bottom) + ")")
      .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor((width - margin.left) / 95))));
    svg.append("g").attr("class", "axis y-axis")
      .attr("transform", "translate(" + margin.left + ",0)")
      .call(d3.axisLeft(y).tickFormat(function (key) {
        var label = labels.get(key) || key;
        return narrow && label.length > 13 ? label.slice(0, 12) + "…" : label;
      }));

    // Meetings on the same day and level are stacked a little apart.
    var seen = new Map();
    points.forEach(function (p) {
      var key = p.date + "|" + p.level;
      var n = seen.get(key) || 0;
      seen.set(key, n + 1);
      p.offset = n;
    });
    var dot = svg.append("g").attr("class", "points").selectAll("a").data(points).join("a")
      .attr("href", function (p) { return "#m-" + p.id; })
      .attr("aria-label", function (p) { return p.label; });
    dot.append("circle").attr("class", "point")
      .attr("data-id", function (p) { return p.id; })
      .attr("data-date", function (p) { return p.date; })
      .attr("data-mode", function (p) { return p.mode; })
      .attr("cx", function (p) { return x(p.day) + p.offset * 5; })
      .attr("cy", function (p) { return y(p.level) - p.offset * 5; })
      .attr("r", 6.5)
      .attr("stroke", function (p) { return MODE_COLOURS[p.mode] || "#57606a"; })
      .attr("fill", function (p) { return p.status === "planned" ? "#fff" : (MODE_COLOURS[p.mode] || "#57606a"); });
    dot.append("title").text(function (p) { return p.label; });

    var legend = svg.append("g").attr("class", "legend").attr("transform", "translate(" + margin.left + ",14)");
    var at = 0;
    data.modes.forEach(function (m) {
      var g = legend.append("g").attr("transform", "translate(" + at + ",0)");
      g.append("circle").attr("r", 5).attr("cy", -4).attr("fill", MODE_COLOURS[m[0]] || "#57606a");
      g.append("text").attr("x", 9).text(m[1]);
      at += 18 + m[1].length * 6.5;
    });
    container.setAttribute("data-rendered", "true");
  }

  function start() {
    if (typeof d3 === "undefined") { return; }
    var network = document.getElementById("network");
    var networkData = readJSON("network-data");
    if (network && networkData && networkData.nodes.length) { drawNetwork(network, networkData); }
    var timeline = document.getElementById("timeline");
    var timelineData = readJSON("timeline-data");
    if (timeline && timelineData) { drawTimeline(timeline, timelineData); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
