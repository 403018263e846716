using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SixLabors.ImageSharp;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// Class folder and file names as a hostile (or just unlucky) user's folder may hold them: markup,
/// quotes, spreadsheet formulas, a right-to-left override, terminal escape sequences, '#' and '%41'
/// (which a URL would read as a fragment and as 'A'), table pipes, Markdown link and emphasis
/// syntax, and line breaks. Linux allows every character in a name but '/' and NUL.
/// </summary>
public static class HostileNames
{
    /// <summary>The three classes, in the ordinal order the pipeline sorts them into (its label order).</summary>
    public static readonly string[] Classes =
    [
        "-2+3 rlo\u202Egnp.x \u001b[31mred\u001b[0m two\nlines",
        "<img src=x onerror=window.pwned=1> \"q\" & [a](javascript:pwned()) *em* www.evil.com x@evil.co",
        "=cmd|' \\C calc'!A0",
    ];

    /// <summary>'%41' and the file a URL built from decoded text would open in its place: both in the first class's folder.</summary>
    public const string PercentName = "%41.jpg", PercentDecoy = "A.jpg";

    /// <summary>A file name with a right-to-left override: it shows as "xgpj.png" where the override acts.</summary>
    public const string RloName = "x\u202Egnp.jpg";

    public const string HashName = "a#b.jpg";

    /// <summary>File names, each a copy of a real photo; spread over the classes.</summary>
    public static readonly string[] Files =
    [
        RloName,
        HashName,
        "<script>window.pwned=1;<!--.jpg",
        "<svg onload=window.pwned=1>.jpg",
        "=1+1.jpg",
        "+SUM(1).jpg",
        "-2.jpg",
        "@A1.jpg",
        "\tTAB.jpg",
        "\rCR.jpg",
        "q\"uote',comma;semi.jpg",
        "esc\u001b[2Jclear\u001b]0;title\u0007.jpg",
        "new\nline.jpg",
        "pipe|cell.jpg",
        "[link](javascript:pwned()).jpg",
        "*star*_under_`tick`~del~.jpg",
        "www.evil.com.jpg",
        "icon@2x.jpg",
        "&amp;lt;.jpg",
    ];

    /// <summary>
    /// A name as every report shows it to a person: each control character as \xNN and each invisible
    /// character that reorders or breaks a line (bidirectional controls, line separators) as \uNNNN, so
    /// it reads as it is stored, in order; the rest as is. The console shows names the same way.
    /// </summary>
    public static string Shown(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name)
        {
            if (c < 0x20 || c is >= '\u007F' and <= '\u009F') sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else if (c is '\u2028' or '\u2029' or '\u200E' or '\u200F' or '\u061C' || c is >= '\u202A' and <= '\u202E' || c is >= '\u2066' and <= '\u2069')
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>A spreadsheet cell as OWASP's advice on CSV injection writes it: a leading ' before =, +, -, @, tab or CR.</summary>
    public static string Neutralised(string cell) => cell.Length > 0 && "=+-@\t\r".Contains(cell[0]) ? "'" + cell : cell;
}

/// <summary>
/// A dataset of those names, each file a real flower photo (each class a different kind of flower),
/// through the real built stages: Ingest, Extract, TrainHead, Audit, Evaluate; then Evaluate predict on the
/// whole folder (CSV and JSON), and Evaluate --data on a folder of the hostile files, each put under a
/// class the model does not predict for it, so that every one of them is a mistake on that page.
/// </summary>
public sealed class HostileDataset : IDisposable
{
    private const int PerClass = 14;

    public TempDir Dir { get; } = new();
    public string Data => Dir["data"];
    public string ConfigPath => Dir["pipeline.yaml"];
    public string ReportsDir => Dir["ws/reports"];
    public string PredictionsCsv => Dir["out/predictions.csv"];
    public string PredictionsJson => Dir["out/predictions.json"];

    /// <summary>The folder Evaluate --data scores; its own name holds an override too.</summary>
    public string Scored => Dir["scored-\u202Etxt.x"];
    public string ScoredJson => Dir["out/scored.json"];
    public string ScoredPage => Dir["out/scored.html"];

    public JsonNode Report { get; }
    public JsonNode ScoredReport { get; }

    /// <summary>Every stage command run on the dataset, with what it printed.</summary>
    public List<(string Command, StageProcess.Result Result)> Runs { get; } = [];

    /// <summary>Every image file: (class, file name, absolute path).</summary>
    public List<(string Class, string Name, string Path)> Images { get; } = [];

    public HostileDataset()
    {
        Directory.CreateDirectory(Dir["out"]);
        var flowers = Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal).Take(HostileNames.Classes.Length).ToArray();
        for (var c = 0; c < HostileNames.Classes.Length; c++)
        {
            var names = HostileNames.Files.Where((_, i) => i % HostileNames.Classes.Length == c).ToList();
            if (c == 0) names.AddRange([HostileNames.PercentName, HostileNames.PercentDecoy]);
            while (names.Count < PerClass) names.Add($"plain-{names.Count:00}.jpg");
            var photos = Directory.GetFiles(flowers[c], "*.jpg").Order(StringComparer.Ordinal).Take(names.Count).ToArray();
            var folder = Path.Join(Data, HostileNames.Classes[c]);
            Directory.CreateDirectory(folder);
            for (var i = 0; i < names.Count; i++)
            {
                var path = Path.Join(folder, names[i]);
                File.Copy(photos[i], path);
                Images.Add((HostileNames.Classes[c], names[i], path));
            }
        }
        var first = Path.Join(Data, HostileNames.Classes[0]);
        if (Size(Path.Join(first, HostileNames.PercentName)) == Size(Path.Join(first, HostileNames.PercentDecoy)))
            throw new InvalidOperationException("the '%41' photo and its decoy must differ in size, so the browser can tell which one a link opened");

        File.WriteAllText(ConfigPath, """
            dataset:
              root: data
              validation_percent: 20
              test_percent: 40
            workspace: ws
            train_head:
              steps: 60
              eval_interval: 20
            """);
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead", "Audit", "Evaluate" }) Ok(stage, "--config", ConfigPath);
        Report = JsonNode.Parse(File.ReadAllText(Path.Combine(ReportsDir, "evaluation.json")))!;

        Ok("Evaluate", "predict", "--config", ConfigPath, Data, "--out", PredictionsCsv);
        Ok("Evaluate", "predict", "--config", ConfigPath, Data, "--out", PredictionsJson);

        // Each hostile file under a class the model does not predict for it ('%41' and its decoy in one folder).
        var predicted = JsonNode.Parse(File.ReadAllText(PredictionsJson))!["images"]!.AsArray()
            .ToDictionary(i => i!["path"]!.GetValue<string>(), i => i!["top_k"]![0]!["label"]!.GetValue<string>());
        var percentPair = new[] { HostileNames.PercentName, HostileNames.PercentDecoy }
            .Select(n => predicted[Path.Join(Data, HostileNames.Classes[0], n)]).ToHashSet();
        var pairFolder = HostileNames.Classes.First(c => !percentPair.Contains(c));
        foreach (var (_, name, path) in Images.Where(i => !i.Name.StartsWith("plain-", StringComparison.Ordinal)))
        {
            var folder = name is HostileNames.PercentName or HostileNames.PercentDecoy ? pairFolder : HostileNames.Classes.First(c => c != predicted[path]);
            Directory.CreateDirectory(Path.Join(Scored, folder));
            File.Copy(path, Path.Join(Scored, folder, name));
        }
        Ok("Evaluate", "--config", ConfigPath, "--data", Scored, "--out", ScoredJson);
        ScoredReport = JsonNode.Parse(File.ReadAllText(ScoredJson))!;
    }

    /// <summary>The hostile files in the scored folder: every one is a mistake there.</summary>
    public int ScoredFiles => Directory.EnumerateFiles(Scored, "*", SearchOption.AllDirectories).Count();

    public static (int Width, int Height) Size(string path)
    {
        var info = Image.Identify(path);
        return (info.Width, info.Height);
    }

    /// <summary>The file a file: URL opens, as a browser reads it: the fragment and query cut off, then each %XX decoded.</summary>
    public static string FilePathOf(string url)
    {
        Assert.StartsWith("file:///", url);
        var path = url["file://".Length..];
        path = path[..(path.IndexOfAny(['#', '?']) is var end and >= 0 ? end : path.Length)];
        return string.Join('/', path.Split('/').Select(Uri.UnescapeDataString));
    }

    private void Ok(string stage, params string[] args)
    {
        var r = StageProcess.Run(stage, args);
        Runs.Add(($"{stage} {string.Join(' ', args)}", r));
        if (r.ExitCode != 0) throw new InvalidOperationException($"{stage} {string.Join(' ', args)} exited {r.ExitCode}:\n{r.Output}");
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>The tests that share one <see cref="HostileDataset"/> run.</summary>
[CollectionDefinition(Name)]
public sealed class HostileDatasetCollection : ICollectionFixture<HostileDataset>
{
    public const string Name = "hostile names";
}
