using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using Onnx;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Fine-tuning speed against PyTorch (make bench BENCH=fine-tune): img/s of one training step at
/// batch 32 on the embedded ResNet-18 for each trainable depth, and inference at batch 8, beside
/// ../shared/peers/pytorch-finetune/bench_speed.py run in this same bench (the same weights,
/// converted from our ONNX file). last-stage and last-2-stages train from cached cut activations,
/// as FineTune does from epoch 2 on; all trains from pixels, so nothing is cached. Each of our
/// figures runs in a child process of its own (this executable, --fine-tune-probe), so its peak RSS
/// is that configuration's alone, measured by /usr/bin/time as the other areas measure theirs.
/// Ours and PyTorch's alternate round by round, and each figure is the best of its rounds, because
/// the two cores are shared.
/// </summary>
public sealed class FineTuneBench : IBenchmark
{
    public string Name => "fine-tune";

    private const int Batch = 32;
    private const int InferenceBatch = 8;
    private const int Classes = 5;
    private const string RateMark = "@@img_s=";

    /// <summary>Our configurations, with PyTorch's figure to compare each with and the goal ratio (0: none).</summary>
    private static readonly (string Probe, string Figure, string Torch, string TorchName, double Goal)[] Rows =
    [
        ("last-stage", "last-stage training step from cached cut activations, batch 32", "train_layer4", "layer4 + fc (recomputes the frozen prefix)", 2.0),
        ("last-2-stages", "last-2-stages training step from cached cut activations, batch 32", "train_layer3", "layer3 + layer4 + fc", 0),
        ("all", "all layers training step from pixels, batch 32", "train_all", "all layers", 1.0),
        ("inference", "whole-network inference, batch 8", "infer_b8", "inference batch 8", 0),
    ];

    public void Run(BenchContext ctx)
    {
        var rounds = ctx.Quick ? 1 : 2;
        var steps = ctx.Quick ? 2 : 3;
        var ours = Rows.ToDictionary(r => r.Probe, _ => (Rate: 0.0, RssMb: 0.0));
        var torch = new Dictionary<string, double>();
        var torchNote = TorchAvailable()
            ? null
            : "PyTorch not measured: Debian's python3-torch, python3-torchvision and python3-onnx are not installed " +
              "(apt-get install -y python3-torch python3-torchvision python3-onnx)";
        for (var r = 0; r < rounds; r++)
        {
            foreach (var row in Rows)
            {
                var (seconds, output, rss, exit) = BenchContext.RunProcess(Path.Combine(AppContext.BaseDirectory, "Bench"),
                    $"{ctx.RepoRoot} --fine-tune-probe {row.Probe} {steps}");
                if (exit != 0) throw new InvalidOperationException($"the {row.Probe} probe failed after {seconds:0} s: {output}");
                var rate = ParseRate(output);
                Console.WriteLine($"  round {r + 1}: ours {row.Probe} {rate:0.0} img/s, peak RSS {rss:0} MB");
                ours[row.Probe] = (Math.Max(ours[row.Probe].Rate, rate), Math.Max(ours[row.Probe].RssMb, rss));
            }
            if (torchNote is null)
                foreach (var (key, value) in TorchRound(ctx, steps))
                {
                    Console.WriteLine($"  round {r + 1}: PyTorch {key} {value:0.0} img/s");
                    torch[key] = Math.Max(torch.GetValueOrDefault(key), value);
                }
        }
        foreach (var row in Rows)
        {
            var (rate, rss) = ours[row.Probe];
            string comparison;
            if (torch.TryGetValue(row.Torch, out var theirs))
            {
                var ratio = rate / theirs;
                comparison = $"PyTorch {row.TorchName} {theirs:0.0} img/s: {ratio:0.00}x" +
                             (row.Goal > 0 ? $" (goal {row.Goal:0.0}x: {(ratio >= row.Goal ? "met" : "NOT met")})" : "");
            }
            else comparison = "PyTorch not measured";
            ctx.Record(Name, "ours: " + row.Figure, rate, "img/s", comparison);
            if (torch.TryGetValue(row.Torch, out theirs)) ctx.Record(Name, $"PyTorch 1.13: {row.TorchName}", theirs, "img/s");
            ctx.Record(Name, $"ours: peak RSS, {row.Probe} ({(row.Probe == "inference" ? $"batch {InferenceBatch}" : $"batch {Batch}")})", rss, "MB",
                row.Probe == "inference" ? "" : $"goal under 2048 MB: {(rss < 2048 ? "met" : "NOT met")}");
        }
        if (torchNote is not null) ctx.Note(Name, torchNote);
        WholeStage(ctx);
    }

    // ---- the FineTune stage itself: what a user's run holds at its peak -------------------------

    /// <summary>
    /// The probes above measure the training step alone; a FineTune run also holds the validation
    /// session, the views of the batch, the checkpoint's copies and the runtime. So the stage itself
    /// runs on the flowers (default settings but epochs, a bench-owned workspace whose cache is kept
    /// between bench runs, so the prefix is computed once), with its peak RSS by /usr/bin/time.
    /// </summary>
    private void WholeStage(BenchContext ctx)
    {
        var root = Directory.CreateDirectory(Path.Combine(ctx.WorkDir, "fine-tune-stage")).FullName;
        var runs = new (string Trainable, int Epochs, int PerClass)[] { ("last-stage", 2, 300), ("last-2-stages", 1, 300), ("all", 1, ctx.Quick ? 8 : 60) };
        foreach (var (trainable, epochs, perClass) in ctx.Quick ? runs[..1] : runs)
        {
            var ws = Path.Combine(root, trainable);
            var config = Path.Combine(ws, "pipeline.yaml");
            Directory.CreateDirectory(ws);
            var data = perClass >= 300 ? ctx.Flowers : ExtractBench.Subset(ctx, perClass);
            File.WriteAllText(config, $"dataset:\n  root: {data}\nworkspace: {ws}/workspace\ncache:\n  dir: {root}/cache\n" +
                                      $"fine_tune:\n  trainable: {trainable}\n  epochs: {epochs}\n");
            // The stage is rerun from its start every time: its checkpoint and results from a previous bench go.
            var tuned = Path.Combine(ws, "workspace", "fine_tune");
            if (Directory.Exists(tuned)) Directory.Delete(tuned, recursive: true);
            foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" })
                ExtractBench.Check(BenchContext.RunProcess(ctx.StageBin(stage), $"--config {config}"), $"{stage} for the FineTune stage run ({trainable})");
            var run = BenchContext.RunProcess(ctx.StageBin("FineTune"), $"--config {config}");
            ExtractBench.Check(run, $"FineTune ({trainable})");
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(ws, "workspace", "reports", "fine_tune.json")))!;
            var log = report["log"]!.AsArray();
            var rate = log.Average(r => r!["images_per_second"]!.GetValue<double>());
            var images = report["train_images"]!.GetValue<int>();
            ctx.Record(Name, $"ours: FineTune stage, {trainable}, peak RSS (batch 32, {images} train images, {epochs} epoch{(epochs > 1 ? "s" : "")})",
                run.PeakRssMb, "MB",
                $"goal under 2048 MB: {(run.PeakRssMb < 2048 ? "met" : "NOT met")}; trained at {rate:0.0} img/s; " +
                $"{report["prefix_computed"]} prefix views computed, {report["prefix_reused"]} reused");
        }
    }

    private static bool TorchAvailable() =>
        File.Exists("/usr/bin/python3") && BenchContext.RunProcess("/usr/bin/python3", "-c \"import torch, torchvision, onnx\"").ExitCode == 0;

    /// <summary>One run of the peer's bench_speed.py on our embedded model's weights: its median img/s per figure.</summary>
    private static Dictionary<string, double> TorchRound(BenchContext ctx, int steps)
    {
        var work = Directory.CreateDirectory(Path.Combine(ctx.WorkDir, "pytorch-finetune")).FullName;
        // The peer reads the ResNet-18 package's folder layout; point it at the files we embed.
        var models = Path.Combine(work, "models");
        var packaged = new[] { ("ResNet18Onnx", BackboneFactory.EmbeddedResNet18Path), ("ResNetPrepOnnx", BackboneFactory.EmbeddedResNetPreprocessPath) };
        foreach (var (folder, file) in packaged)
        {
            var link = Path.Combine(Directory.CreateDirectory(Path.Combine(models, folder)).FullName, Path.GetFileName(file));
            if (!File.Exists(link)) File.CreateSymbolicLink(link, file);
        }
        var script = Path.Combine(ctx.SharedData, "peers", "pytorch-finetune", "bench_speed.py");
        var results = Path.Combine(work, "results");
        // OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, set on some machines here for old OpenBLAS builds, hold a
        // current one back to older kernels: unset for the peer alone, as the machine's notes advise for benchmarks.
        var psi = $"-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE RESNET18_MODELS={models} PTFT_WORK={work} PTFT_RESULTS={results} " +
                  $"/usr/bin/python3 {script} --rounds 1 --steps {steps}";
        var run = BenchContext.RunProcess("/usr/bin/env", psi);
        if (run.ExitCode != 0) throw new InvalidOperationException("the PyTorch peer failed: " + run.Output);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(results, "bench_speed.json")))!.AsObject();
        return json.Where(p => p.Value is JsonObject o && o.ContainsKey("median_img_s"))
            .ToDictionary(p => p.Key, p => p.Value!["median_img_s"]!.GetValue<double>());
    }

    private static double ParseRate(string output)
    {
        var mark = output.LastIndexOf(RateMark, StringComparison.Ordinal);
        if (mark < 0) throw new InvalidOperationException("the probe printed no rate: " + output);
        var end = output.IndexOf('\n', mark);
        return double.Parse(output[(mark + RateMark.Length)..(end < 0 ? output.Length : end)].Trim(), CultureInfo.InvariantCulture);
    }

    // ---- the probe: one configuration in this process ------------------------------------------

    /// <summary>Measures one configuration (Bench REPO --fine-tune-probe NAME STEPS [FORM]) and prints its img/s;
    /// FORM conv keeps every trained conv an ONNX Conv, conv-transpose also writes its dX as a
    /// ConvTranspose, gemm writes every trained conv as Gemms whatever its size, to compare.
    /// FORM A,B (e.g. conv,gemm) builds both and alternates their steps in this process, printing each one's median step
    /// time: on shared cores only figures taken side by side compare.</summary>
    public static int Probe(string what, int steps, string? form = null)
    {
        if (form is not null && form.Contains(',')) return Compare(what, steps, form.Split(','));
        var options = Options(form);
        if (what.StartsWith("profile-", StringComparison.Ordinal)) return Profile(what["profile-".Length..], steps, options);
        var random = new SeededRandom(1);
        if (what == "inference")
        {
            var spec = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
            using var whole = BackboneSession.Create(spec, threads: 0);
            var pixels = Gaussian(random, InferenceBatch * spec.ValuesPerImage, 60);
            var features = new float[InferenceBatch * 512];
            whole.Run(pixels, InferenceBatch, ref features);
            // As many images as a training measurement passes, so both take a comparable time.
            Print(Rate(steps * Batch / InferenceBatch, InferenceBatch, () => whole.Run(pixels, InferenceBatch, ref features)));
            return 0;
        }
        var depth = what switch
        {
            "last-stage" => TrainableDepth.LastStage,
            "last-2-stages" => TrainableDepth.LastTwoStages,
            "all" => TrainableDepth.All,
            _ => throw new ArgumentException($"unknown probe {what}"),
        };
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var stages = BackboneStages.Find(model, "Input247", [1, 3, 224, 224], "Pooling395_Output_0");
        var region = stages.Region(depth);
        var perImage = region.CutShape[1..].Aggregate(1L, (p, d) => p * d);
        // A cut inside the network holds Relu outputs (what the cache would keep); the image cut, normalised pixels.
        var input = depth == TrainableDepth.All
            ? Gaussian(random, (int)(Batch * perImage), 60)
            : [.. Enumerable.Range(0, (int)(Batch * perImage)).Select(_ => (float)Math.Max(0, random.NextGaussian()))];
        var targets = new float[Batch * Classes];
        for (var i = 0; i < Batch; i++) targets[i * Classes + i % Classes] = 1;
        var head = new SoftmaxHead(Gaussian(random, Classes * 512, 0.01), new float[Classes], ["a", "b", "c", "d", "e"], 512);
        using var session = TrainingSession.Create(TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(Classes), options), null, head,
            n => Optimizer.Create(OptimizerName.Sgd, 1e-4, 0.9, n), threads: ProbeThreads, microBatch: MicroBatch(form) ?? MicroBatching.For(depth));
        // Two warm-up steps: ORT plans its memory on the first run and allocates (and first touches) the plan on the second.
        session.Step(input, targets, Batch);
        session.Step(input, targets, Batch);
        Print(Rate(steps, Batch, () => session.Step(input, targets, Batch)));
        return 0;
    }

    /// <summary>A form may end in /M: the batch of 32 runs as micro-batches of M (e.g. auto/8; /0 whole); else FineTune's choice.</summary>
    private static int? MicroBatch(string? form) => form?.Split('/') is [_, var m] ? int.Parse(m, CultureInfo.InvariantCulture) : null;

    private static TrainingGraphOptions Options(string? form) => form?.Split('/')[0] switch
    {
        null => new TrainingGraphOptions(),
        "conv-transpose" => new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv, ConvInputGradient = ConvInputGradientForm.ConvTranspose },
        "conv" => new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv },
        "gemm" => new TrainingGraphOptions { ConvCompute = ConvComputeForm.Gemm },
        "auto" => new TrainingGraphOptions(),
        _ => throw new ArgumentException($"unknown form {form}"),
    };

    /// <summary>Steps of several forms of one depth's graph, alternated in this process: each form's median step in ms.</summary>
    private static int Compare(string what, int steps, string[] forms)
    {
        var depth = what switch { "last-stage" => TrainableDepth.LastStage, "last-2-stages" => TrainableDepth.LastTwoStages, _ => TrainableDepth.All };
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var region = BackboneStages.Find(model, "Input247", [1, 3, 224, 224], "Pooling395_Output_0").Region(depth);
        var random = new SeededRandom(1);
        var perImage = region.CutShape[1..].Aggregate(1L, (p, d) => p * d);
        var input = Gaussian(random, (int)(Batch * perImage), 1);
        var targets = new float[Batch * Classes];
        for (var i = 0; i < Batch; i++) targets[i * Classes + i % Classes] = 1;
        var head = new SoftmaxHead(Gaussian(random, Classes * 512, 0.01), new float[Classes], ["a", "b", "c", "d", "e"], 512);
        var sessions = forms.Select(f => TrainingSession.Create(TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(Classes), Options(f)), null, head,
            n => Optimizer.Create(OptimizerName.Sgd, 1e-4, 0.9, n), threads: ProbeThreads, microBatch: MicroBatch(f) ?? MicroBatching.For(depth))).ToList();
        var times = forms.Select(_ => new List<double>()).ToList();
        for (var s = 0; s < steps + 2; s++)
            for (var f = 0; f < forms.Length; f++)
            {
                var sw = Stopwatch.StartNew();
                sessions[f].Gradients(input, targets, Batch);
                if (s >= 2) times[f].Add(sw.Elapsed.TotalMilliseconds); // two warm-up runs: ORT plans its memory on them
            }
        for (var f = 0; f < forms.Length; f++)
            Console.WriteLine($"{forms[f]}: median {times[f].Order().ElementAt(times[f].Count / 2):0} ms, " +
                              $"min {times[f].Min():0} ms over {times[f].Count} steps");
        foreach (var session in sessions) session.Dispose();
        return 0;
    }

    /// <summary>ORT's per-node profile of one depth's step graph (Bench REPO --fine-tune-probe profile-DEPTH RUNS):
    /// prints the profile file, to sum by op type; where the step's time goes.</summary>
    private static int Profile(string what, int runs, TrainingGraphOptions graphOptions)
    {
        var depth = what switch { "last-stage" => TrainableDepth.LastStage, "last-2-stages" => TrainableDepth.LastTwoStages, _ => TrainableDepth.All };
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var region = BackboneStages.Find(model, "Input247", [1, 3, 224, 224], "Pooling395_Output_0").Region(depth);
        var graph = TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(Classes), graphOptions);
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = ProbeThreads > 0 ? ProbeThreads : Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.EnableProfiling = true;
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(graph.Model, options);
        var random = new SeededRandom(3);
        var inputs = session.InputMetadata.Select(i =>
        {
            var shape = i.Value.Dimensions.Select(d => d < 0 ? (long)Batch : d).ToArray();
            var count = (int)shape.Aggregate(1L, (p, d) => p * d);
            // The model's own weights and Relu-like activations: random weights at scale 1 overflow to inf and NaN
            // within a few layers, and a profile of such values says little about a real step's.
            var values = graph.InitialValues.TryGetValue(i.Key, out var initial) ? OnnxTensorData.ReadFloats(initial)
                : i.Key == graph.Input ? [.. Gaussian(random, count, 1).Select(v => Math.Max(0, v))]
                : Gaussian(random, count, 0.01);
            return Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(values, shape);
        }).ToList();
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        for (var r = 0; r < runs; r++)
        {
            using var results = session.Run(runOptions, [.. session.InputMetadata.Keys], inputs, [.. session.OutputNames]);
        }
        // ORT writes the profile into the working folder; moved out of it so a run from the checkout leaves nothing there.
        var profile = Path.Combine(Path.GetTempPath(), $"bp-fine-tune-{what}-{Environment.ProcessId}.json");
        File.Move(session.EndProfiling(), profile, overwrite: true);
        Console.WriteLine("@@profile=" + profile);
        foreach (var v in inputs) v.Dispose();
        return 0;
    }

    /// <summary>FINE_TUNE_PROBE_THREADS=1 runs a probe on one thread: on shared cores a single thread's time says more
    /// about a form's own cost than two threads that wait for each other.</summary>
    private static int ProbeThreads => int.TryParse(Environment.GetEnvironmentVariable("FINE_TUNE_PROBE_THREADS"), out var t) ? t : 0;

    private static float[] Gaussian(SeededRandom random, int count, double scale) =>
        [.. Enumerable.Range(0, count).Select(_ => (float)(scale * random.NextGaussian()))];

    private static double Rate(int runs, int batch, Action run)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < runs; i++) run();
        var rate = runs * batch / sw.Elapsed.TotalSeconds;
        // CPU time per run as well: on shared cores it moves less with the load than the wall clock (threads do not spin).
        Console.WriteLine($"cpu ms per run: {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / runs:0}");
        return rate;
    }

    private static void Print(double rate) => Console.WriteLine(RateMark + rate.ToString("0.###", CultureInfo.InvariantCulture));
}
