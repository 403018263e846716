using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Bench;

/// <summary>Writes results.json (every figure plus machine facts) and results.md (a table to read).</summary>
public static class BenchReport
{
    public static void Write(BenchContext ctx, string dir)
    {
        var machine = new JsonObject
        {
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
            ["cpu"] = CpuModel(),
            ["cores"] = Environment.ProcessorCount,
            ["os"] = RuntimeInformation.OSDescription,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["onnxruntime"] = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
        };
        var root = new JsonObject { ["machine"] = machine, ["results"] = JsonNode.Parse(ctx.Results.ToJsonString()) };
        AtomicFile.WriteAllText(Path.Combine(dir, "results.json"), root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var md = new StringBuilder();
        md.AppendLine("# Benchmark results").AppendLine();
        md.AppendLine($"{machine["date"]}, {machine["cpu"]}, {machine["cores"]} cores, {machine["dotnet"]}, ONNX Runtime {machine["onnxruntime"]}.").AppendLine();
        md.AppendLine("| area | figure | value | compared in the same run |").AppendLine("|---|---|---|---|");
        foreach (var (area, figure, value, cmp) in ctx.Rows) md.AppendLine($"| {area} | {figure} | {value} | {cmp} |");
        AtomicFile.WriteAllText(Path.Combine(dir, "results.md"), md.ToString());
        Console.WriteLine($"wrote {Path.Combine(dir, "results.md")}");
    }

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
