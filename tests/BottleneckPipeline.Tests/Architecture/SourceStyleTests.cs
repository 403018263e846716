using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Architecture;

/// <summary>
/// What <c>dotnet format --verify-no-changes</c> does not check: no line of C# is longer than the max_line_length
/// the .editorconfig sets for it (read from the file, section by section, so the two never disagree), and no line
/// holds a tab or ends in whitespace. Every .cs file under the source folders counts, tracked or not; build output
/// (bin/, obj/, .artifacts/) does not. Lengths are in characters (Unicode scalar values), as an editor counts them.
/// </summary>
public class SourceStyleTests
{
    private static readonly string[] SourceFolders = ["shared", "stages", "tests", "bench", "examples"];

    private static readonly HashSet<string> BuildFolders = new(["bin", "obj", ".artifacts"], StringComparer.Ordinal);

    private static readonly string EditorConfig = Path.Combine(RepoPaths.Root, ".editorconfig");

    [Fact]
    public void Every_line_of_CSharp_is_within_the_editorconfig_limit()
    {
        var sections = Sections(EditorConfig);
        var files = SourceFiles();
        Assert.Contains(files, f => Path.GetFileName(f) == nameof(SourceStyleTests) + ".cs");

        var unlimited = files.Where(f => Limit(sections, Relative(f)) is null).Select(Relative).ToList();
        Assert.True(unlimited.Count == 0,
            $"no max_line_length in {EditorConfig} applies to {unlimited.Count} C# file(s), first {unlimited.FirstOrDefault()}: " +
            "set it in the [*.cs] section.");

        var over = (from file in files
                    let limit = Limit(sections, Relative(file))!.Value
                    from line in Lines(file)
                    let length = line.Text.EnumerateRunes().Count()
                    where length > limit
                    select (Where: $"{Relative(file)}:{line.Number} ({length} chars)", Limit: limit)).ToList();
        Assert.True(over.Count == 0,
            $"{over.Count} line(s) of C# longer than the .editorconfig's max_line_length " +
            $"({string.Join(", ", over.Select(o => o.Limit).Distinct())}). Wrap each one (a string concatenation at a +, " +
            "an argument list after a comma, a LINQ chain at its dots, a /// comment by re-flowing the text); see .editorconfig.\n" +
            string.Join("\n", over.Select(o => o.Where)));
    }

    [Fact]
    public void No_line_of_CSharp_has_a_tab_or_trailing_whitespace()
    {
        var offenders = (from file in SourceFiles()
                         from line in Lines(file)
                         let what = line.Text.Contains('\t') ? "a tab"
                             : line.Text.Length > 0 && char.IsWhiteSpace(line.Text[^1]) ? "trailing whitespace"
                             : null
                         where what is not null
                         select $"{Relative(file)}:{line.Number} ({what})").ToList();
        Assert.True(offenders.Count == 0,
            $"{offenders.Count} line(s) of C# with a tab or trailing whitespace; indent with spaces and trim line ends " +
            "(indent_style and trim_trailing_whitespace in .editorconfig).\n" + string.Join("\n", offenders));
    }

    [Theory]
    [InlineData("*", "stages/Evaluate/Program.cs", true)]
    [InlineData("*.cs", "stages/Evaluate/Program.cs", true)]
    [InlineData("*.{csproj,props,targets,sln,yaml,yml,json}", "stages/Evaluate/Program.cs", false)]
    [InlineData("*.{cs,csx}", "Program.cs", true)]
    [InlineData("tests/**.cs", "tests/BottleneckPipeline.Tests/A.cs", true)]
    [InlineData("tests/**.cs", "shared/Core/A.cs", false)]
    [InlineData("/shared/*.cs", "shared/A.cs", true)]
    [InlineData("/shared/*.cs", "shared/Core/A.cs", false)]
    [InlineData("Makefile", "stages/Makefile.cs", false)]
    public void An_editorconfig_section_applies_as_editorconfig_globs_do(string glob, string path, bool applies) =>
        Assert.Equal(applies, Glob(glob).IsMatch(path));

    /// <summary>The .cs files under the source folders, build output left out, in path order.</summary>
    private static List<string> SourceFiles() =>
        [.. SourceFolders
            .Select(f => Path.Combine(RepoPaths.Root, f))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories))
            .Where(f => !Relative(f).Split('/').Any(BuildFolders.Contains))
            .Order(StringComparer.Ordinal)];

    private static string Relative(string path) => Path.GetRelativePath(RepoPaths.Root, path).Replace('\\', '/');

    /// <summary>Each line with its 1-based number, without its line break.</summary>
    private static IEnumerable<(int Number, string Text)> Lines(string file) =>
        File.ReadAllText(file).Split('\n').Select((text, i) => (i + 1, text.TrimEnd('\r')));

    /// <summary>The .editorconfig's sections in order, each glob with the max_line_length it sets (null if none).</summary>
    private static List<(Regex Glob, string? MaxLineLength)> Sections(string path)
    {
        var sections = new List<(Regex Glob, string? MaxLineLength)>();
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[' && line[^1] == ']')
                sections.Add((Glob(line[1..^1]), null));
            else if (sections.Count > 0 && line.Split('=', 2) is [var key, var value]
                     && key.Trim().Equals("max_line_length", StringComparison.OrdinalIgnoreCase))
                sections[^1] = (sections[^1].Glob, value.Trim());
        }
        return sections;
    }

    /// <summary>The limit for a file: the last section that applies to it and sets max_line_length wins.</summary>
    private static int? Limit(List<(Regex Glob, string? MaxLineLength)> sections, string relativePath)
    {
        var value = sections.LastOrDefault(s => s.MaxLineLength is not null && s.Glob.IsMatch(relativePath)).MaxLineLength;
        if (value is null) return null;
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new InvalidOperationException($"{EditorConfig}: max_line_length = '{value}' is not a number of characters");
    }

    /// <summary>
    /// An .editorconfig section glob as a regex over a path relative to the repository root: * within a folder,
    /// ** across folders, ? one character, {a,b} alternatives, [...] a class. A glob without a / matches the file
    /// name in any folder; one with a / matches from the .editorconfig's folder.
    /// </summary>
    private static Regex Glob(string glob)
    {
        var sb = new StringBuilder(glob.Contains('/') ? "^" : "^(?:.*/)?");
        var braces = 0;
        for (var i = glob.StartsWith('/') ? 1 : 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                sb.Append(".*");
                i++;
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else if (c == '{')
            {
                braces++;
                sb.Append("(?:");
            }
            else if (c == '}' && braces > 0)
            {
                braces--;
                sb.Append(')');
            }
            else if (c == ',' && braces > 0) sb.Append('|');
            else if (c == '[' && glob.IndexOf(']', i + 1) is var end and > 0)
            {
                sb.Append('[').Append(glob[i + 1] == '!' ? "^" + glob[(i + 2)..end] : glob[(i + 1)..end]).Append(']');
                i = end;
            }
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
