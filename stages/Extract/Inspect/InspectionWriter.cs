using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BottleneckPipeline.Extract.Inspect;

/// <summary>An inspection for a person (aligned text, warnings last) or for a program (JSON, snake_case keys).</summary>
internal static class InspectionWriter
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // A vector of NaN is exactly what a wrongly fed model shows: print it, as "NaN", rather than fail.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Json(BackboneInspection i) => JsonSerializer.Serialize(i, JsonOptions) + "\n";

    public static string Text(BackboneInspection i)
    {
        var sb = new StringBuilder();
        void Line(string key, string value) => sb.Append(CultureInfo.InvariantCulture, $"{key,-14}{value}\n");
        static string Num(double v, string format = "0.####") => v.ToString(format, CultureInfo.InvariantCulture);

        Line("backbone", $"{i.Backbone}: {i.Model.Path}");
        Line("model", $"{Num(i.Model.Bytes / 1e6, "0.0")} MB, sha256 {i.Model.Sha256[..16]}..., " +
                      $"{(i.Model.Producer.Length > 0 ? i.Model.Producer : "unknown producer")}, opset {string.Join(", ", i.Model.Opsets)}");
        foreach (var t in i.Inputs) Line("input", $"{t.Name} {t.Type} {t.Shape}");
        foreach (var t in i.Outputs) Line("output", $"{t.Name} {t.Type} {t.Shape}");
        Line("bottleneck", $"{i.Bottleneck.Tensor}{(i.Bottleneck.Shape is { } shape ? " " + shape : "")}: {i.Bottleneck.Dimension} values per image");
        Line("  chosen as", i.Bottleneck.Reason);
        Line("image size", $"{i.Input.Size}x{i.Input.Size} ({i.Input.SizeFrom}), resize {i.Input.Resize}, fed as {i.Input.Shape}");
        Line("layout", $"{i.Input.Layout} ({i.Input.LayoutFrom})");
        Line("normalization", $"{i.Input.Normalization} ({i.Input.NormalizationFrom})");
        Line("fingerprint", i.Fingerprint);
        Line("ops", $"{i.Nodes} nodes: {string.Join(", ", i.Ops.Select(o => $"{o.Op} {o.Count}"))}");
        Line("timing", $"session {Num(i.Timing.SessionMs, "0")} ms; one image: first run {Num(i.Timing.FirstRunMs, "0")} ms, " +
                       $"then {Num(i.Timing.RunMs, "0")} ms (best of {i.Timing.Runs}), {i.Timing.Threads} threads");
        Line("image", i.Image);
        var v = i.Vector;
        // Four significant digits: features of an untrained or wrongly fed model can be tiny, and 0.0000 would hide them.
        Line("vector", $"first {v.First.Length} of {v.Dimension}: {string.Join(" ", v.First.Select(x => Num(x, "G4")))}");
        Line("", $"norm {Num(v.Norm, "G4")}, zeros {Num(v.ZeroShare * 100, "0.0")}%, NaN or infinite {v.NonFinite}, " +
                 $"range [{Num(v.Min, "G4")}, {Num(v.Max, "G4")}]");
        foreach (var w in i.Warnings) sb.Append("warning: ").Append(w).Append('\n');
        if (i.Warnings.Count == 0) sb.Append("ok: no sign of a wrongly fed model (no NaN, not all zeros, differs from a gray image)\n");
        return sb.ToString();
    }
}
