using System.Globalization;
using System.Text.RegularExpressions;

namespace BottleneckPipeline.Bench;

/// <summary>
/// torchvision feature extraction of the same architectures (../shared/peers/pytorch), where Debian's
/// python3-torch and python3-torchvision are installed; skipped with a note otherwise. Runs after the
/// extract area, so its figures sit beside ours from this same run.
/// </summary>
public sealed partial class TorchvisionBench : IBenchmark
{
    public string Name => "extract-vs-torchvision";

    public void Run(BenchContext ctx)
    {
        var probe = BenchContext.RunProcess("/usr/bin/python3", "-c \"import torch, torchvision\"");
        if (probe.ExitCode != 0)
        {
            ctx.Note(Name, "skipped: Debian's python3-torch and python3-torchvision are not installed (apt-get install -y python3-torch python3-torchvision)");
            return;
        }
        var script = Path.Combine(ctx.SharedData, "peers", "pytorch", "export_and_time.py");
        var outDir = Directory.CreateDirectory(Path.Combine(ctx.WorkDir, "torchvision")).FullName;
        var run = BenchContext.RunProcess("/usr/bin/python3", $"{script} {outDir} --threads {Environment.ProcessorCount}");
        if (run.ExitCode != 0) throw new InvalidOperationException("the PyTorch peer failed: " + run.Output);
        foreach (Match m in PeerLine().Matches(run.Output))
        {
            var model = m.Groups["model"].Value;
            var rate = double.Parse(m.Groups["rate"].Value, CultureInfo.InvariantCulture);
            var ours = OursFor(ctx, model);
            var cmp = ours is > 0 ? $"ours end to end {ours:0.0} img/s = {ours / rate:0.00}x" : "no figure of ours in this run";
            ctx.Record(Name, $"torchvision {model} batch {m.Groups["batch"].Value}", rate, "img/s", cmp);
        }
    }

    /// <summary>Our end-to-end Extract rate for that architecture, recorded by the extract area in this run.</summary>
    private static double? OursFor(BenchContext ctx, string model)
    {
        var figure = model.StartsWith("resnet", StringComparison.Ordinal) ? "Extract cold, 1500 flowers (pipeline rate)" : "Extract inception-v3, 200 images";
        return ctx.Results["extract"]?[figure]?.GetValue<double>();
    }

    [GeneratedRegex(@"pytorch \S+ (?<model>\w+) batch=(?<batch>\d+) threads=\d+: (?<rate>[0-9.]+) img/s")]
    private static partial Regex PeerLine();
}
