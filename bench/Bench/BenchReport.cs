using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Writes results.json (every figure, its rows and machine facts) and results.md (a table to read).
/// An area this run measured replaces that area's rows; the other areas keep theirs from the files
/// already there, each under the date and load it was measured at, so `make bench BENCH=area`
/// refreshes one area without losing the rest.
/// </summary>
public static class BenchReport
{
    public static void Write(BenchContext ctx, string dir)
    {
        var jsonPath = Path.Combine(dir, "results.json");
        var mdPath = Path.Combine(dir, "results.md");
        var machine = new JsonObject
        {
            ["cpu"] = CpuModel(),
            ["cores"] = Environment.ProcessorCount,
            ["os"] = RuntimeInformation.OSDescription,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["onnxruntime"] = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
        };
        var areas = Previous(jsonPath, mdPath);
        foreach (var group in ctx.Rows.GroupBy(r => r.Area))
            areas[group.Key] = new Area(ctx.Measured.GetValueOrDefault(group.Key, "unknown"),
                ctx.Results[group.Key]?.DeepClone() as JsonObject ?? new JsonObject(),
                [.. group.Select(r => new Row(r.Figure, r.Value, r.Comparison))]);

        var results = new JsonObject();
        foreach (var (name, area) in areas.OrderBy(a => a.Key, StringComparer.Ordinal))
            results[name] = new JsonObject
            {
                ["measured"] = area.Measured,
                ["figures"] = area.Figures.DeepClone(),
                ["rows"] = new JsonArray([.. area.Rows.Select(r =>
                    (JsonNode)new JsonObject { ["figure"] = r.Figure, ["value"] = r.Value, ["comparison"] = r.Comparison })]),
            };
        var root = new JsonObject { ["machine"] = machine, ["areas"] = results };
        AtomicFile.WriteAllText(jsonPath, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var md = new StringBuilder();
        md.AppendLine("# Benchmark results").AppendLine();
        md.AppendLine($"{machine["cpu"]}, {machine["cores"]} cores, {machine["dotnet"]}, ONNX Runtime {machine["onnxruntime"]}. " +
                      $"Each area was measured at the date and load average in its heading; ratios compare figures of that same run only.").AppendLine();
        foreach (var (name, area) in areas.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            md.AppendLine($"## {name} ({area.Measured})").AppendLine();
            md.AppendLine("| figure | value | compared in the same run |").AppendLine("|---|---|---|");
            foreach (var r in area.Rows) md.AppendLine($"| {r.Figure} | {r.Value} | {r.Comparison} |");
            md.AppendLine();
        }
        AtomicFile.WriteAllText(mdPath, md.ToString());
        Console.WriteLine($"wrote {mdPath}");
    }

    /// <summary>When and under what load an area ran, for its heading.</summary>
    public static string MeasuredNow()
    {
        var load = "";
        try { load = string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { }
        return DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) + (load.Length > 0 ? $", load average {load}" : "");
    }

    private sealed record Row(string Figure, string Value, string Comparison);

    private sealed record Area(string Measured, JsonObject Figures, List<Row> Rows);

    /// <summary>The areas already recorded: from results.json's areas, or (files of an older layout) from results.md's table.</summary>
    private static Dictionary<string, Area> Previous(string jsonPath, string mdPath)
    {
        var areas = new Dictionary<string, Area>(StringComparer.Ordinal);
        JsonObject? old = null;
        try { old = File.Exists(jsonPath) ? JsonNode.Parse(File.ReadAllText(jsonPath)) as JsonObject : null; }
        catch (JsonException) { }
        if (old?["areas"] is JsonObject recorded)
        {
            foreach (var (name, node) in recorded)
                if (node is JsonObject a)
                    areas[name] = new Area(a["measured"]?.GetValue<string>() ?? "unknown", a["figures"]?.DeepClone() as JsonObject ?? new JsonObject(),
                        [.. (a["rows"] as JsonArray ?? []).OfType<JsonObject>()
                            .Select(r => new Row(Text(r, "figure"), Text(r, "value"), Text(r, "comparison")))]);
            return areas;
        }
        if (old is null || !File.Exists(mdPath)) return areas;
        // The older layout: one table of "| area | figure | value | comparison |" under one date.
        var date = old["machine"]?["date"]?.GetValue<string>() ?? "unknown";
        foreach (var line in File.ReadLines(mdPath))
        {
            var cells = line.Split('|');
            if (cells.Length != 6 || cells[1].Trim() is "area" or "---" or "") continue;
            var name = cells[1].Trim();
            if (!areas.TryGetValue(name, out var area))
                areas[name] = area = new Area(date, old["results"]?[name]?.DeepClone() as JsonObject ?? new JsonObject(), []);
            area.Rows.Add(new Row(cells[2].Trim(), cells[3].Trim(), cells[4].Trim()));
        }
        return areas;
    }

    private static string Text(JsonObject o, string key) => o[key]?.GetValue<string>() ?? "";

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
    }
}
