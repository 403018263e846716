using BottleneckPipeline.Evaluate.Escaping;

namespace BottleneckPipeline.Tests.Names;

/// <summary>Each output's escaping of one name, case by case; <see cref="HostileOutputTests"/> checks what the real stages write.</summary>
public class NameEscapingTests
{
    [Theory]
    [InlineData("daisy", "daisy")]
    [InlineData("=cmd|' \\C calc'!A0", "'=cmd|' \\C calc'!A0")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\t=1", "\"'\t=1\"")]
    [InlineData("\r=1", "\"'\r=1\"")]
    [InlineData("a,=1+1", "\"a,=1+1\"")]
    [InlineData("a;=1+1", "\"a;=1+1\"")]
    [InlineData("=\"x\",y", "\"'=\"\"x\"\",y\"")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    [InlineData("a=1", "a=1")]
    [InlineData("", "")]
    public void A_csv_cell_never_begins_with_a_formula_and_is_quoted_where_it_holds_a_separator(string name, string cell)
    {
        Assert.Equal(cell, CsvCell.Of(name));
        Assert.Equal([HostileNames.Neutralised(name)], StrictCsv.Parse(cell + "\n").Single());
    }
}
