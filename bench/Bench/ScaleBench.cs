using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Memory must not grow with the dataset. The 1500 flowers are scaled up to 6000 images: each photo
/// again under three new names with one pixel changed, so every copy has its own content id and is
/// really extracted. Each stage's peak RSS at 6000 is set beside its peak RSS at 1500 (the cold run of
/// the pipeline bench, measured just before in this same run).
/// </summary>
public sealed class ScaleBench : IBenchmark
{
    public string Name => "scale";

    private static readonly string[] Stages = ["Ingest", "Extract", "TrainHead", "Evaluate"];

    public void Run(BenchContext ctx)
    {
        var copies = ctx.Quick ? 1 : 3;
        var data = Path.Combine(ctx.WorkDir, $"flowers-x{copies + 1}");
        var images = MakeScaledCopy(ctx.Flowers, data, copies);
        var ws = Path.Combine(ctx.WorkDir, "scale");
        if (Directory.Exists(ws)) Directory.Delete(ws, recursive: true);
        Directory.CreateDirectory(ws);
        var config = Path.Combine(ws, "pipeline.yaml");
        // The originals' vectors are already in the pipeline bench's cache; the copies are new to it.
        var cache = Path.Combine(ctx.WorkDir, "pipeline", "workspace", "cache");
        File.WriteAllText(config, $"dataset:\n  root: {data}\nworkspace: {ws}/workspace\ncache:\n  dir: {cache}\n");

        foreach (var stage in Stages)
        {
            var (s, output, rss, code) = BenchContext.RunProcess(ctx.StageBin(stage), $"--config {config}");
            if (code != 0) throw new InvalidOperationException($"{stage} at {images} images exited {code}: {output}");
            var small = ctx.Results["pipeline"]?[$"peak RSS {stage} at 1500"]?.GetValue<double>();
            var cmp = small is > 0 ? $"{rss / small.Value:0.00}x its peak at 1500 ({small:0} MB)" : "no 1500-image figure in this run";
            ctx.Record(Name, $"peak RSS {stage} at {images}", rss, "MB", cmp);
            ctx.Record(Name, $"{stage} at {images}", s, "s");
        }
    }

    /// <summary>Copies every photo once as it is and `copies` more times with one pixel changed
    /// (re-encoded, so the bytes and the content id differ). Reused when already complete.</summary>
    private static int MakeScaledCopy(string source, string target, int copies)
    {
        var done = Path.Combine(target, ".complete");
        var files = Directory.GetDirectories(source).SelectMany(d => Directory.GetFiles(d).Select(f => (Class: Path.GetFileName(d), File: f)))
            .Where(x => !Path.GetFileName(x.File).StartsWith('.') && x.File.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)).ToList();
        var total = files.Count * (copies + 1);
        if (File.Exists(done)) return total;
        Parallel.ForEach(files, x =>
        {
            var dir = Path.Combine(target, x.Class);
            Directory.CreateDirectory(dir);
            var name = Path.GetFileNameWithoutExtension(x.File);
            File.Copy(x.File, Path.Combine(dir, name + ".jpg"), overwrite: true);
            using var image = Image.Load<Rgb24>(x.File);
            var original = image[0, 0];
            for (var c = 1; c <= copies; c++)
            {
                image[0, 0] = new Rgb24((byte)(original.R ^ c), original.G, original.B);
                image.SaveAsJpeg(Path.Combine(dir, $"{name}_copy{c}.jpg"));
            }
        });
        File.WriteAllText(done, total.ToString());
        return total;
    }
}
