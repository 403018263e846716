using System.Globalization;
using System.Text;
using System.Text.Json;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

internal enum PredictionFormat { Csv, Json }

/// <summary>What one predict run classified (and of those, called unknown) and skipped, for its closing line.</summary>
internal sealed record PredictionSummary(int Classified, int Unknown, int Skipped, string Output);

/// <summary>
/// `Evaluate predict`: classifies image files and folders with a model.onnx that Evaluate exported,
/// and nothing else: no config, index, cache or workspace is needed, and none is written. Every file
/// gets a row: its top-k labels and probabilities, or why it was skipped.
/// </summary>
internal static class Prediction
{
    /// <param name="output">a file, or "-" for standard output.</param>
    /// <param name="maxPixels">images with more pixels are skipped before decoding.</param>
    public static PredictionSummary Run(ExportedModel model, IReadOnlyList<string> inputs, string output, PredictionFormat format, int topK, long maxPixels,
        CancellationToken ct = default)
    {
        var files = ExpandInputs(inputs);
        var classified = model.Classify(files, maxPixels, ct);
        var k = Math.Clamp(topK, 1, model.Metadata.Labels.Length);
        var text = format == PredictionFormat.Json ? Json(model, classified, k) : Csv(model.Metadata.Labels, classified, k);
        if (output == "-")
        {
            using var stdout = Console.OpenStandardOutput();
            stdout.Write(Encoding.UTF8.GetBytes(text));
        }
        else AtomicFile.WriteAllText(output, text);
        var done = classified.Count(c => c.Answer is not null);
        var summary = new PredictionSummary(done, classified.Count(c => c.Answer is { Unknown: true }), classified.Count - done,
            output == "-" ? "standard output" : output);
        if (done == 0)
            throw new InputException(files.Count == 0
                ? $"no file to classify under {string.Join(", ", inputs)}."
                : $"none of the {files.Count} file(s) could be classified; each is listed with its reason in {summary.Output}.");
        return summary;
    }

    /// <summary>The format a file name asks for: .json gives JSON, anything else (and "-") CSV.</summary>
    public static PredictionFormat FormatFor(string output) =>
        string.Equals(Path.GetExtension(output), ".json", StringComparison.OrdinalIgnoreCase) ? PredictionFormat.Json : PredictionFormat.Csv;

    /// <summary>Files as given, and every file under a folder (recursively, in name order, hidden ones left out).</summary>
    public static List<string> ExpandInputs(IReadOnlyList<string> inputs)
    {
        var files = new List<string>();
        foreach (var input in inputs)
        {
            var full = Path.GetFullPath(input);
            if (Directory.Exists(full))
                files.AddRange(Directory
                    .EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                    .Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal));
            else if (File.Exists(full) || new FileInfo(full).LinkTarget is not null) files.Add(full);
            else throw new InputException($"{full} is neither an image file nor a folder.");
        }
        return files;
    }

    /// <summary>One row per file: path, status (classified, unknown when the model's unknown rule flags it, or skipped), the unknown
    /// score, the top-k labels and probabilities (an unknown image keeps them: they are what the model would answer), and a
    /// skipped file's reason; every text field through <see cref="CsvCell"/>, so no name is a formula in a spreadsheet.</summary>
    public static string Csv(string[] labels, IReadOnlyList<ClassifiedImage> images, int k)
    {
        var sb = new StringBuilder("path,status,unknown_score");
        for (var j = 1; j <= k; j++) sb.Append(CultureInfo.InvariantCulture, $",label_{j},probability_{j}");
        sb.Append(",reason\n");
        foreach (var image in images)
        {
            sb.Append(CsvCell.Of(image.Path));
            if (image.Answer is { } a)
            {
                sb.Append(',').Append(Status(a)).Append(',').Append(a.UnknownScore?.ToString("0.######", CultureInfo.InvariantCulture));
                foreach (var c in ClassificationMetrics.TopClasses(a.Probabilities, k))
                    sb.Append(',').Append(CsvCell.Of(labels[c])).Append(',').Append(a.Probabilities[c].ToString("0.######", CultureInfo.InvariantCulture));
                sb.Append(",\n");
            }
            else sb.Append(",skipped,").Append(',', 2 * k + 1).Append(CsvCell.Of(image.Skipped ?? "")).Append('\n');
        }
        return sb.ToString();
    }

    private static string Status(ModelAnswer answer) => answer.Unknown ? "unknown" : "classified";

    private static string Json(ExportedModel model, IReadOnlyList<ClassifiedImage> images, int k)
    {
        var labels = model.Metadata.Labels;
        var rows = images.Select(image => image.Answer is { } a
            ? new PredictionRow(image.Path, Status(a), a.UnknownScore,
                [.. ClassificationMetrics.TopClasses(a.Probabilities, k).Select(c => new RankedLabel(labels[c], a.Probabilities[c]))], null)
            : new PredictionRow(image.Path, "skipped", null, [], image.Skipped));
        var document = new PredictionDocument(model.Path, labels, images.Count(i => i.Answer is { Unknown: false }),
            images.Count(i => i.Answer is { Unknown: true }), images.Count(i => i.Answer is null), [.. rows]);
        return JsonSerializer.Serialize(document, JsonOptions) + "\n";
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private sealed record PredictionDocument(string Model, string[] Labels, int Classified, int Unknown, int Skipped, PredictionRow[] Images);

    private sealed record PredictionRow(string Path, string Status, double? UnknownScore, RankedLabel[] TopK, string? Reason);

    private sealed record RankedLabel(string Label, float Probability);
}
