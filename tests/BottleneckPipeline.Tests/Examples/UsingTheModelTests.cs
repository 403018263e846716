using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Tests.Fixtures;
using Google.Protobuf;
using Onnx;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Examples;

/// <summary>
/// README's "Using the model" and docs/using-the-model.md, run for real on the small pipeline's
/// model.onnx (and a copy whose metadata says center-crop, so both resize rules are run): the C#
/// example (examples/ClassifyOne, shown verbatim in the README) and the guide's Python lines, each
/// compared with `Evaluate predict --model` on real flower photos and an EXIF-rotated copy of one.
/// </summary>
[Collection(SmallPipelineCollection.Name)]
public class UsingTheModelTests(SmallPipeline run, ITestOutputHelper output)
{
    private static readonly string ProgramCs = Path.Combine(RepoPaths.Root, "examples", "ClassifyOne", "Program.cs");
    private static readonly string Guide = Path.Combine(RepoPaths.Root, "docs", "using-the-model.md");
    private static readonly string Script = Path.Combine(RepoPaths.Root, "tests", "BottleneckPipeline.Tests", "Examples", "python_example.py");

    /// <summary>The C# example and predict decode and resize the same way (ImageSharp, Triangle) under libvips_min_pixels.</summary>
    private const double CSharpTolerance = 1e-5;

    /// <summary>
    /// PIL's bilinear against ImageSharp's Triangle: the pixels differ by a fraction of a level on average, 3 levels at most,
    /// and the labels agree, but the probabilities move with them, the more where the model's temperature sharpens them
    /// (the small pipeline's calibrated head, on this test's photos, moved one by up to 0.09). The bounds leave room: a
    /// label may flip where two classes are close.
    /// </summary>
    private const double PythonTolerance = 0.15;
    private const double PythonLabelAgreement = 0.95;

    /// <summary>The torch evaluator against ONNX Runtime on identical pixels: float32 kernels, summed in another order.</summary>
    private const double GraphTolerance = 1e-4;

    [Fact]
    public void Readme_shows_the_example_program_verbatim()
    {
        var program = File.ReadAllText(ProgramCs).ReplaceLineEndings("\n");
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");
        Assert.True(readme.Contains("```csharp\n" + program + "```\n", StringComparison.Ordinal),
            "README.md must show examples/ClassifyOne/Program.cs verbatim in a ```csharp block: copy the file into it.");
        Assert.InRange(program.Split('\n').Length, 20, 45); // a snippet a reader takes in at once
        // It uses ONNX Runtime and ImageSharp only: nothing of this repository.
        Assert.DoesNotContain("BottleneckPipeline", program, StringComparison.Ordinal);
        var project = File.ReadAllText(Path.Combine(Path.GetDirectoryName(ProgramCs)!, "ClassifyOne.csproj"));
        Assert.DoesNotContain("ProjectReference", project, StringComparison.Ordinal);
        Assert.Equal(["Microsoft.ML.OnnxRuntime", "SixLabors.ImageSharp"],
            Regex.Matches(project, "PackageReference Include=\"([^\"]+)\"").Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_csharp_example_answers_as_predict_on_real_photos()
    {
        using var dir = new TempDir();
        var images = Photos(dir, perClass: 2);
        var measured = new List<double>();
        foreach (var model in Models(dir))
        {
            var expected = Predict(model, images);
            foreach (var image in images)
            {
                var r = StageProcess.Run("ClassifyOne", model, image);
                Assert.True(r.ExitCode == 0, r.Output);
                var (label, probability) = LabelAndProbability(r.StdOut.Trim());
                Assert.True(expected[image].Top == label, $"{image} with {model}: the example says {label}, predict {expected[image].Top}");
                var diff = Math.Abs(expected[image].Probabilities[label] - probability);
                Assert.True(diff <= CSharpTolerance,
                    $"{image} with {model}: the example says {label} {probability}, predict {expected[image].Probabilities[label]}");
                measured.Add(diff);
            }
        }
        output.WriteLine($"C# example against predict: {measured.Count} of {measured.Count} labels agree, max probability difference {measured.Max():G3}");
    }

    [TorchFact]
    public void The_torch_evaluator_runs_the_graph_as_onnx_runtime_does()
    {
        using var dir = new TempDir();
        var modelPath = ArtifactPaths.Model(run.Config);
        using var model = ExportedModel.Open(modelPath);
        var images = Photos(dir, perClass: 2);
        var pixels = images.Select(f => ImageSharpPixels(model.Metadata, f)).ToList();
        File.WriteAllBytes(dir["pixels.f32"], MemoryMarshal.AsBytes(pixels.SelectMany(p => p).ToArray().AsSpan()).ToArray());

        var r = Python("--graph", modelPath, dir["pixels.f32"]);
        var torch = r.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        var onnxRuntime = model.Run(pixels).Select(a => a.Probabilities).ToArray();
        Assert.Equal(images.Count, torch.Count);
        var max = 0.0;
        for (var i = 0; i < images.Count; i++)
        {
            Assert.Equal(onnxRuntime[i].Length, torch[i].Length);
            Assert.Equal(Array.IndexOf(onnxRuntime[i], onnxRuntime[i].Max()), Array.IndexOf(torch[i], torch[i].Max()));
            max = Math.Max(max, onnxRuntime[i].Zip(torch[i], (a, b) => Math.Abs(a - b)).Max());
        }
        output.WriteLine($"torch evaluator against ONNX Runtime on identical pixels, {images.Count} images: max probability difference {max:G3}");
        Assert.True(max <= GraphTolerance, $"the torch evaluator differs from ONNX Runtime by {max}");
    }

    [TorchFact]
    public void The_python_lines_answer_as_predict_on_real_photos()
    {
        using var dir = new TempDir();
        var images = Photos(dir, perClass: 10);
        foreach (var model in Models(dir))
        {
            var expected = Predict(model, images);
            var lines = Python(["--save-pixels", dir["pil.f32"], Guide, model, .. images]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(images.Count, lines.Length);
            var (agree, diffs) = (0, new List<double>());
            foreach (var line in lines)
            {
                var fields = line.Split('\t');
                var (image, label, probability) = (fields[0], fields[1], double.Parse(fields[2], CultureInfo.InvariantCulture));
                if (expected[image].Top == label) agree++;
                else output.WriteLine($"  {Path.GetFileName(image)}: Python says {label} {probability}, predict {expected[image].Top}");
                diffs.Add(Math.Abs(expected[image].Probabilities[label] - probability));
            }

            // What PIL's bilinear made of the images, beside ImageSharp's Triangle (predict's pixels).
            using var exported = ExportedModel.Open(model);
            var pil = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(dir["pil.f32"]).AsSpan()).ToArray();
            var sharp = images.SelectMany(f => ImageSharpPixels(exported.Metadata, f)).ToArray();
            Assert.Equal(sharp.Length, pil.Length);
            var pixelDiffs = pil.Zip(sharp, (a, b) => (double)Math.Abs(a - b)).ToArray();
            var within2 = pixelDiffs.Count(d => d <= 2) / (double)pixelDiffs.Length;

            diffs.Sort();
            output.WriteLine($"Python lines ({exported.Metadata.Resize}) against predict: {agree} of {images.Count} labels agree; probability difference " +
                             $"max {diffs[^1]:G3}, median {diffs[diffs.Count / 2]:G3}; pixels: mean difference {pixelDiffs.Average():F3} of 255, " +
                             $"{within2:P1} within 2, max {pixelDiffs.Max()}");
            Assert.True(agree >= PythonLabelAgreement * images.Count, $"only {agree} of {images.Count} labels agree with predict");
            Assert.True(diffs[^1] <= PythonTolerance, $"a probability differs from predict's by {diffs[^1]}");
            Assert.True(pixelDiffs.Average() < 1 && pixelDiffs.Max() <= 8,
                $"PIL's pixels differ from ImageSharp's by {pixelDiffs.Average()} on average, {pixelDiffs.Max()} at most");
        }
    }

    /// <summary>Real flower photos of every class (not only the model's three), and a copy of the first whose EXIF says
    /// "rotate 90°" with its pixels stored turned back, so only a reader that applies the orientation sees the photo upright.</summary>
    private List<string> Photos(TempDir dir, int perClass)
    {
        using var model = ExportedModel.Open(ArtifactPaths.Model(run.Config));
        var photos = Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal)
            .SelectMany(c => Directory.GetFiles(c, "*.jpg").Order(StringComparer.Ordinal).Skip(100).Take(perClass)).ToList();
        foreach (var photo in photos)
        {
            var info = Image.Identify(photo);
            Assert.True((long)info.Width * info.Height < model.Metadata.LibvipsMinPixels,
                $"{photo} is decoded by libvips in predict: not a photo for this comparison");
        }

        var rotated = dir["rotated.jpg"];
        using (var image = Image.Load<Rgb24>(photos[0]))
        {
            image.Mutate(x => x.Rotate(RotateMode.Rotate270));
            image.Metadata.ExifProfile = new ExifProfile();
            image.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6); // 6: rotate 90° clockwise to view
            image.SaveAsJpeg(rotated, new SixLabors.ImageSharp.Formats.Jpeg.JpegEncoder { Quality = 95 });
        }
        return [.. photos, rotated];
    }

    /// <summary>The workspace's model.onnx (stretch) and a copy whose metadata says center-crop.</summary>
    private string[] Models(TempDir dir)
    {
        var stretch = ArtifactPaths.Model(run.Config);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(stretch));
        var resize = model.MetadataProps.Single(p => p.Key == "resize");
        Assert.Equal("stretch", resize.Value);
        resize.Value = "center-crop";
        // Edited, so sealed again with its own checksum, as the exporter seals what it writes.
        model.MetadataProps.Single(p => p.Key == ModelChecksum.Key).Value = ModelChecksum.Placeholder;
        var crop = dir["center-crop.onnx"];
        File.WriteAllBytes(crop, ModelChecksum.Seal(model.ToByteArray()));
        return [stretch, crop];
    }

    private sealed record Expected(string Top, Dictionary<string, double> Probabilities);

    /// <summary>`Evaluate predict --model` on the files: each file's top label and every label's probability.</summary>
    private static Dictionary<string, Expected> Predict(string model, List<string> images)
    {
        var r = StageProcess.Run("Evaluate", ["predict", "--model", model, .. images, "--out", "-", "--format", "json", "--top-k", "1000"]);
        Assert.True(r.ExitCode == 0, r.Output);
        var rows = JsonNode.Parse(r.StdOut)!["images"]!.AsArray();
        Assert.Equal(images.Count, rows.Count);
        return rows.ToDictionary(row => row!["path"]!.GetValue<string>(), row =>
        {
            Assert.Contains(row!["status"]!.GetValue<string>(), new[] { "classified", "unknown" }); // an unknown one still has its labels
            var ranked = row["top_k"]!.AsArray()
                .Select(l => (Label: l!["label"]!.GetValue<string>(), P: (double)l["probability"]!.GetValue<float>())).ToList();
            return new Expected(ranked[0].Label, ranked.ToDictionary(l => l.Label, l => l.P));
        });
    }

    private static float[] ImageSharpPixels(ModelMetadata metadata, string file) =>
        ExportedModel.Pixels(File.ReadAllBytes(file), metadata.InputSize, metadata.Resize, metadata.Decode, long.MaxValue);

    /// <summary>"label probability", as both examples print it.</summary>
    private static (string Label, double Probability) LabelAndProbability(string line)
    {
        var space = line.LastIndexOf(' ');
        return (line[..space], double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>Runs python_example.py with /usr/bin/python3; its standard output.</summary>
    private static string Python(params string[] args)
    {
        var psi = new ProcessStartInfo(TorchFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("python_example.py did not finish in 5 minutes");
        }
        Assert.True(p.ExitCode == 0, $"python_example.py exited {p.ExitCode}:\n{stderr.Result}");
        return stdout.Result;
    }
}

/// <summary>A test that needs /usr/bin/python3 with torch, onnx, Pillow and numpy (Debian's python3-torch, python3-onnx,
/// python3-pil, python3-numpy): skipped, with a note saying so, where they are missing.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<bool> Available = new(() =>
    {
        if (!File.Exists(Python)) return false;
        var psi = new ProcessStartInfo(Python, ["-c", "import torch, onnx, PIL, numpy"]) { RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        p.StandardError.ReadToEnd();
        return p.WaitForExit(TimeSpan.FromMinutes(1)) && p.ExitCode == 0;
    });

    public TorchFactAttribute()
    {
        if (!Available.Value)
            Skip = $"{Python} with torch, onnx, Pillow and numpy is not installed here (apt-get install python3-torch python3-onnx python3-pil): " +
                   "the guide's Python lines are not run.";
    }
}
